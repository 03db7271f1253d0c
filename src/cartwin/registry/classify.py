"""Rule-based classification of a study: cell-therapy type, cell source, targets, disease group.

The rules are deliberately simple, ordered and documented (docs/registry.md has the table of
tricky cases, each one a test). Why rules and not a model: a reviewer must be able to say *why*
a study was put in a bucket, and a wrong bucket must be fixable by one line here.

Where each answer comes from:

* **cell therapy type** and **targets** come from the study's *cell-therapy interventions*
  (name, other names, description), because a record's free text also names the antigens of
  companion drugs (rituximab = CD20, blinatumomab = CD19) and biomarkers. Only when no
  cell-therapy intervention names an antigen are titles and keywords used, and there only a
  mention in a CAR/TCR context counts (``"anti-CD19 CAR"``, ``"BCMA-directed"``).
* A mention followed by *negative*, *expression*, *status*, *loss*, *biomarker* or *MRD* is a
  biomarker, not a target (``"CD19-negative relapse"``).
* **cell source**: ``allogeneic`` words win over ``autologous`` ones, except *allogeneic* that
  qualifies a transplant (``"after allogeneic HSCT"``); known products carry their source.
* **disease groups** come from conditions, keywords and titles; *transformed follicular
  lymphoma* is LBCL, *non-Hodgkin* is not Hodgkin, *T-ALL* is its own group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cartwin.registry.schema import Intervention, Study

CLASSIFIER_VERSION = "1"

CELL_THERAPY_TYPES = ("CAR-T", "CAR-NK", "CAR-NKT", "TCR-T", "other", "none")
CELL_SOURCES = ("autologous", "allogeneic", "unknown")

# Canonical antigen name -> pattern. Word-ish boundaries so CD7 != CD70 and CD19 != CD190.
_B = r"(?<![A-Za-z0-9])"
_E = r"(?![0-9A-Za-z])"
ANTIGENS: dict[str, str] = {
    "CD19": _B + r"CD[- ]?19" + _E,
    "CD20": _B + r"(?:CD[- ]?20|MS4A1)" + _E,
    "CD22": _B + r"CD[- ]?22" + _E,
    "BCMA": _B + r"(?:BCMA|B[- ]cell maturation antigen|TNFRSF17)" + _E,
    "GPRC5D": _B + r"GPRC5D" + _E,
    "CD7": _B + r"CD[- ]?7" + _E,
    "CD5": _B + r"CD[- ]?5" + _E,
    "CD30": _B + r"CD[- ]?30" + _E,
    "CD33": _B + r"CD[- ]?33" + _E,
    "CD38": _B + r"CD[- ]?38" + _E,
    "CD70": _B + r"CD[- ]?70" + _E,
    "CD123": _B + r"(?:CD[- ]?123|IL-?3R[aα])" + _E,
    "CLL1": _B + r"(?:CLL-?1|CLEC12A)" + _E,
    "SLAMF7": _B + r"(?:SLAMF7|CS1)" + _E,
    "GD2": _B + r"GD2" + _E,
    "CLDN18.2": _B + r"(?:CLDN ?18\.2|claudin[- ]?18\.2|claudin ?18 ?isoform ?2)",
    "HER2": _B + r"(?:HER-?2|ERBB2)" + _E,
    "MSLN": _B + r"(?:mesothelin|MSLN)" + _E,
    "GPC3": _B + r"(?:GPC-?3|glypican[- ]?3)" + _E,
    "EGFRvIII": _B + r"EGFR ?vIII" + _E,
    "EGFR": _B + r"EGFR(?! ?vIII)" + _E,
    "B7-H3": _B + r"(?:B7-?H3|CD276)" + _E,
    "IL13Ra2": _B + r"IL-?13 ?R[aα]2" + _E,
    "PSMA": _B + r"PSMA" + _E,
    "MUC1": _B + r"MUC-?1" + _E,
    "CEA": _B + r"CEA" + _E,
    "ROR1": _B + r"ROR-?1" + _E,
    "MAGE-A4": _B + r"MAGE-?A4" + _E,
    "NY-ESO-1": _B + r"NY-?ESO-?1" + _E,
}
_ANTIGEN_RES = {name: re.compile(pat, re.IGNORECASE) for name, pat in ANTIGENS.items()}
_ANTIGEN_ALIASES = {name.lower().replace("-", "").replace(".", ""): name for name in ANTIGENS}
_ANTIGEN_ALIASES.update({"claudin182": "CLDN18.2", "mesothelin": "MSLN", "erbb2": "HER2",
                         "bcellmaturationantigen": "BCMA", "glypican3": "GPC3"})

# A mention directly followed by one of these is a biomarker or eligibility word, not a target.
_BIOMARKER_AFTER = re.compile(
    r"^[\s\-+]*(?:antigen[- ])?(?:negative|neg\b|expression|status|loss|biomarker|MRD|levels?\b|"
    r"low\b|dim\b)", re.IGNORECASE)
# In titles and keywords a mention counts only near one of these.
_CONSTRUCT_CONTEXT = re.compile(
    r"\bCAR\b|CAR[- ]?T|CAR[- ]?NK|CART|chimeric antigen receptor|TCR|T[- ]cell receptor|"
    r"directed|targeted|targeting|specific|\banti-|redirected|engineered", re.IGNORECASE)


@dataclass(frozen=True)
class KnownProduct:
    name: str
    cell_therapy: str
    source: str
    targets: tuple[str, ...]
    pattern: str


# Named products whose records often omit the construct words ("KTE-C19" says nothing of CAR).
KNOWN_PRODUCTS: tuple[KnownProduct, ...] = (
    KnownProduct("axi-cel", "CAR-T", "autologous", ("CD19",), r"axicabtagene|axi-cel|KTE-C19|yescarta"),
    KnownProduct("tisa-cel", "CAR-T", "autologous", ("CD19",), r"tisagenlecleucel|tisa-cel|CTL019|kymriah"),
    KnownProduct("liso-cel", "CAR-T", "autologous", ("CD19",), r"lisocabtagene|liso-cel|JCAR017|breyanzi"),
    KnownProduct("brexu-cel", "CAR-T", "autologous", ("CD19",), r"brexucabtagene|brexu-cel|KTE-X19|tecartus"),
    KnownProduct("obe-cel", "CAR-T", "autologous", ("CD19",), r"obecabtagene|obe-cel|AUTO1\b|aucatzyl"),
    KnownProduct("relma-cel", "CAR-T", "autologous", ("CD19",), r"relmacabtagene|relma-cel|JWCAR029"),
    KnownProduct("ide-cel", "CAR-T", "autologous", ("BCMA",), r"idecabtagene|ide-cel|bb2121|abecma"),
    KnownProduct("cilta-cel", "CAR-T", "autologous", ("BCMA",),
                 r"ciltacabtagene|cilta-cel|JNJ-68284528|LCAR-B38M|carvykti"),
    KnownProduct("eque-cel", "CAR-T", "autologous", ("BCMA",), r"equecabtagene|eque-cel|CT103A"),
    KnownProduct("arlo-cel", "CAR-T", "autologous", ("GPRC5D",), r"arlocabtagene|arlo-cel|BMS-986393"),
    KnownProduct("satri-cel", "CAR-T", "autologous", ("CLDN18.2",), r"satricabtagene|satri-cel|\bCT041\b"),
    KnownProduct("cema-cel", "CAR-T", "allogeneic", ("CD19",), r"cemacabtagene|cema-cel|ALLO-501"),
    KnownProduct("UCART19", "CAR-T", "allogeneic", ("CD19",), r"UCART19"),
    KnownProduct("afami-cel", "TCR-T", "autologous", ("MAGE-A4",), r"afamitresgene|afami-cel|ADP-A2M4\b"),
)
_PRODUCT_RES = [(p, re.compile(p.pattern, re.IGNORECASE)) for p in KNOWN_PRODUCTS]

_TYPE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Order matters: NKT before NK, NK before T; CAR before TCR so a "TCR-knockout CAR-T"
    # (allogeneic products delete the TCR) stays CAR-T.
    ("CAR-NKT", re.compile(r"CAR[- ]?NKT|NKT[- ]cells?.{0,40}(?:CAR|chimeric antigen receptor)|"
                           r"(?:CAR|chimeric antigen receptor).{0,40}NKT\b", re.IGNORECASE)),
    ("CAR-NK", re.compile(r"CAR[- ]?NK(?!T)|\bNK[- ]?92.{0,40}CAR|"
                          r"(?:CAR|chimeric antigen receptor)[- ](?:engineered |modified |expressing )?"
                          r"(?:natural killer|NK)\b|natural killer cells?.{0,40}(?:CAR\b|chimeric)",
                          re.IGNORECASE)),
    ("CAR-T", re.compile(r"CAR[- ]?T\b|CAR[- ]?T[- ]cells?|\bCART\b|CART[- ]?\d|"
                         r"chimeric antigen receptor|CAR[- ](?:modified|transduced|engineered|expressing)|"
                         r"\bCAR\+?\s?T|\bCAR\b", re.IGNORECASE)),
    ("TCR-T", re.compile(r"TCR[- ]?T\b|TCR[- ](?:engineered|transduced|modified)|"
                         r"(?<!chimeric antigen )T[- ]cell receptor.{0,30}(?:T[- ]cells|engineered|transduced)|"
                         r"\bTCR\b.{0,20}T[- ]cells?", re.IGNORECASE)),
    ("other", re.compile(r"\bTILs?\b|tumou?r[- ]infiltrating lymphocytes|CAR[- ]?M\b|macrophage.{0,20}CAR|"
                         r"cytokine[- ]induced killer|\bCIK\b|virus[- ]specific T[- ]cells", re.IGNORECASE)),
)

_ALLOGENEIC = re.compile(
    r"allogene?ic(?!\s+(?:\w+\s+){0,2}(?:stem[- ]cell|hematopoietic|haematopoietic|HSCT|SCT|HCT|"
    r"transplant|bone marrow))|off[- ]the[- ]shelf|\buniversal\b|UCART|healthy[- ]donor|"
    r"cord[- ]blood|iPSC|induced pluripotent|donor[- ]derived|third[- ]party", re.IGNORECASE)
_AUTOLOGOUS = re.compile(r"autologous(?!\s+(?:\w+\s+){0,2}(?:stem[- ]cell|transplant|HSCT|SCT|ASCT))",
                         re.IGNORECASE)

# Disease group -> pattern (searched in conditions, keywords and titles). Case-sensitive
# abbreviations are written without (?i) so "all patients" never reads as ALL.
_I = re.IGNORECASE
DISEASE_RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("T-ALL", "haematological", re.compile(r"T[- ]cell acute lymphoblastic|T[- ]ALL\b|T[- ]lymphoblastic", _I)),
    ("ALL", "haematological", re.compile(
        r"(?i:acute lymphoblastic leuka?emia|precursor B[- ]cell lymphoblastic)|"
        r"(?<![A-Za-z-])B-?ALL\b|(?<![A-Za-z-])ALL\b", 0)),
    ("LBCL", "haematological", re.compile(
        r"large B[- ]cell|DLBCL|\bLBCL\b|PMBCL|primary mediastinal|high[- ]grade B[- ]cell|"
        r"transformed follicular|\btFL\b|Richter", _I)),
    ("FL", "haematological", re.compile(r"(?i:(?<!transformed )follicular lymphoma)|(?<![A-Za-z])FL\b", 0)),
    ("MCL", "haematological", re.compile(r"mantle[- ]cell lymphoma|\bMCL\b", _I)),
    ("MZL", "haematological", re.compile(r"marginal[- ]zone lymphoma|\bMZL\b", _I)),
    ("CLL", "haematological", re.compile(r"chronic lymphocytic leuka?emia|\bCLL\b(?!-?1)|small lymphocytic lymphoma|\bSLL\b", _I)),
    ("B-NHL", "haematological", re.compile(r"B[- ]cell (?:non[- ]Hodgkin )?lymphoma|B[- ]NHL", _I)),
    ("NHL", "haematological", re.compile(r"non[- ]Hodgkin|\bNHL\b", _I)),
    ("HL", "haematological", re.compile(r"(?<!non-)(?<!non )\bHodgkin", _I)),
    ("TCL", "haematological", re.compile(r"T[- ]cell lymphoma|lymphoma,? T[- ]cell|PTCL|CTCL", _I)),
    ("MM", "haematological", re.compile(r"myeloma|plasma cell (?:neoplasm|leuka?emia)|\bRRMM\b|\bMM\b", _I)),
    ("AL amyloidosis", "haematological", re.compile(r"\bAL amyloidosis|light[- ]chain amyloidosis", _I)),
    ("AML", "haematological", re.compile(r"acute myeloid leuka?emia|\bAML\b", _I)),
    ("neuroblastoma", "solid tumour", re.compile(r"neuroblastoma", _I)),
    ("glioma", "solid tumour", re.compile(r"gliom|glioblastoma|\bGBM\b|\bDIPG\b|\bDMG\b", _I)),
    ("gastric/GEJ", "solid tumour", re.compile(r"gastric|stomach|gastro-?o?esophageal|\bGEJ\b", _I)),
    ("pancreatic", "solid tumour", re.compile(r"pancrea", _I)),
    ("ovarian", "solid tumour", re.compile(r"ovar", _I)),
    ("mesothelioma", "solid tumour", re.compile(r"mesothelioma", _I)),
    ("lung", "solid tumour", re.compile(r"lung (?:cancer|carcinoma|adenocarcinoma)|NSCLC|SCLC", _I)),
    ("breast", "solid tumour", re.compile(r"breast", _I)),
    ("liver", "solid tumour", re.compile(r"hepatocellular|\bHCC\b|liver cancer", _I)),
    ("colorectal", "solid tumour", re.compile(r"colorectal|colon cancer|rectal cancer", _I)),
    ("prostate", "solid tumour", re.compile(r"prostat", _I)),
    ("sarcoma", "solid tumour", re.compile(r"sarcoma", _I)),
    ("solid tumour (other)", "solid tumour", re.compile(r"solid tumou?r|carcinoma", _I)),
    ("SLE", "autoimmune", re.compile(r"lupus|\bSLE\b", _I)),
    ("myasthenia gravis", "autoimmune", re.compile(r"myasthenia", _I)),
    ("multiple sclerosis", "autoimmune", re.compile(r"multiple sclerosis", _I)),
    ("systemic sclerosis", "autoimmune", re.compile(r"systemic sclerosis|scleroderma", _I)),
    ("myositis", "autoimmune", re.compile(r"myositis|dermatomyositis", _I)),
    ("vasculitis", "autoimmune", re.compile(r"vasculitis|ANCA", _I)),
    ("NMOSD", "autoimmune", re.compile(r"neuromyelitis|NMOSD", _I)),
    ("autoimmune (other)", "autoimmune", re.compile(r"autoimmun|rheumatoid arthritis", _I)),
)
# Groups that say the same thing more specifically: drop the umbrella when a specific one is there.
_UMBRELLA = {"B-NHL": {"LBCL", "FL", "MCL", "MZL", "CLL"},
             "NHL": {"LBCL", "FL", "MCL", "MZL", "CLL", "B-NHL", "TCL"}, "solid tumour (other)": {
    "neuroblastoma", "glioma", "gastric/GEJ", "pancreatic", "ovarian", "mesothelioma", "lung",
    "breast", "liver", "colorectal", "prostate", "sarcoma"},
    "autoimmune (other)": {"SLE", "myasthenia gravis", "multiple sclerosis", "systemic sclerosis",
                           "myositis", "vasculitis", "NMOSD"}}


@dataclass(frozen=True)
class Classification:
    """What kind of cell therapy a study tests, made of what, against what, in whom."""

    cell_therapy: str
    cell_source: str
    targets: tuple[str, ...]
    disease_groups: tuple[str, ...]
    disease_category: str
    product: str | None = None
    multi_target: bool = False

    @property
    def target_label(self) -> str:
        return "+".join(self.targets) if self.targets else ""


def canonical_antigen(name: str) -> str | None:
    """``'claudin18.2'`` -> ``'CLDN18.2'``; ``'bcma'`` -> ``'BCMA'``; unknown -> None."""
    key = name.strip().lower().replace("-", "").replace(".", "").replace(" ", "")
    if key in _ANTIGEN_ALIASES:
        return _ANTIGEN_ALIASES[key]
    for canonical, pattern in _ANTIGEN_RES.items():
        if pattern.fullmatch(name.strip()):
            return canonical
    return None


def find_antigens(text: str, require_context: bool = False) -> list[str]:
    """Antigens named in ``text`` as targets (biomarker mentions skipped), in order of mention."""
    hits: list[tuple[int, str]] = []
    for name, pattern in _ANTIGEN_RES.items():
        for match in pattern.finditer(text):
            if _BIOMARKER_AFTER.match(text[match.end():match.end() + 30]):
                continue
            if require_context:
                window = text[max(0, match.start() - 40):match.end() + 40]
                if not _CONSTRUCT_CONTEXT.search(window):
                    continue
            hits.append((match.start(), name))
    ordered: list[str] = []
    for _, name in sorted(hits):
        if name not in ordered:
            ordered.append(name)
    return ordered


def _intervention_text(iv: Intervention) -> str:
    return " ; ".join([iv.name or "", *iv.other_names, iv.description or ""])


def _known_product(text: str) -> KnownProduct | None:
    for product, pattern in _PRODUCT_RES:
        if pattern.search(text):
            return product
    return None


def _cell_type(text: str) -> str | None:
    for name, pattern in _TYPE_RULES:
        if pattern.search(text):
            return name
    return None


def _is_cell_therapy(iv: Intervention, text: str) -> bool:
    # Lymphodepleting chemotherapy and companion antibodies are DRUG interventions that may
    # still name an antigen (rituximab: CD20); they never define the study's cell product.
    if iv.type not in (None, "BIOLOGICAL", "GENETIC", "OTHER", "COMBINATION_PRODUCT", "DRUG"):
        return False
    return _known_product(text) is not None or _cell_type(text) is not None


def _disease_groups(texts: Iterable[str]) -> tuple[tuple[str, ...], str]:
    found: list[str] = []
    categories: list[str] = []
    for text in texts:
        for group, category, pattern in DISEASE_RULES:
            if pattern.search(text) and group not in found:
                found.append(group)
                categories.append(category)
    if "T-ALL" in found and "ALL" in found and not _plain_all(texts):
        found.remove("ALL")
    kept = [g for g in found if not (_UMBRELLA.get(g, set()) & set(found))]
    cats = {categories[found.index(g)] for g in kept}
    if not kept:
        return (), "unknown"
    category = cats.pop() if len(cats) == 1 else "mixed"
    return tuple(kept), category


def _plain_all(texts: Iterable[str]) -> bool:
    """True when some text names B-ALL, not only T-ALL (T-ALL also matches the ALL pattern)."""
    for text in texts:
        stripped = re.sub(r"T[- ]cell acute lymphoblastic leuka?emia|T[- ]ALL\b|T[- ]lymphoblastic", " ", text,
                          flags=re.IGNORECASE)
        if DISEASE_RULES[1][2].search(stripped):
            return True
    return False


def classify(study: Study) -> Classification:
    """Classify ``study`` by the rules in this module's docstring (pure; never raises on text)."""
    section = study.protocol_section
    interventions = section.arms_interventions_module.interventions
    titles = study.titles
    keywords = section.conditions_module.keywords
    conditions = section.conditions_module.conditions

    cell_ivs: list[tuple[Intervention, str]] = []
    for iv in interventions:
        text = _intervention_text(iv)
        if _is_cell_therapy(iv, text):
            cell_ivs.append((iv, text))

    product: KnownProduct | None = None
    types: list[str] = []
    targets: list[str] = []
    per_iv_target_counts: list[int] = []
    for _, text in cell_ivs:
        known = _known_product(text)
        product = product or known
        kind = _cell_type(text) or (known.cell_therapy if known else None)
        if kind:
            types.append(kind)
        found = find_antigens(text) or (list(known.targets) if known else [])
        per_iv_target_counts.append(len(found))
        targets.extend(t for t in found if t not in targets)

    title_text = " ; ".join([*titles, *keywords])
    title_items = [*titles, *keywords]
    if not types:
        # Records with a vague intervention ("Biological: CAR-T cells") are common; the
        # title then says what they are.
        kind = _cell_type(title_text)
        known = _known_product(title_text)
        product = product or known
        if kind or known:
            types.append(kind or known.cell_therapy)  # type: ignore[union-attr]
    if types and not targets:
        # Each title and keyword on its own: a keyword "CD20" must not borrow the title's "CAR-T".
        for item in title_items:
            targets.extend(t for t in find_antigens(item, require_context=True) if t not in targets)
        if not targets and product:
            targets = list(product.targets)

    cell_therapy = _pick_type(types)
    source_text = " ; ".join([*(text for _, text in cell_ivs), *titles, *keywords])
    cell_source = _cell_source(source_text, product) if cell_therapy != "none" else "unknown"
    groups, category = _disease_groups([*conditions, *keywords, *titles])
    return Classification(
        cell_therapy=cell_therapy,
        cell_source=cell_source,
        targets=tuple(targets) if cell_therapy != "none" else (),
        disease_groups=groups,
        disease_category=category,
        product=product.name if product else None,
        multi_target=len(targets) > 1 and cell_therapy != "none",
    )


def _pick_type(types: list[str]) -> str:
    if not types:
        return "none"
    # A study testing CAR-T alongside a reference cell product is a CAR-T study; otherwise the
    # first named engineered type wins.
    for preferred in ("CAR-T", "CAR-NK", "CAR-NKT", "TCR-T"):
        if types[0] == preferred:
            return preferred
    for preferred in ("CAR-T", "CAR-NK", "CAR-NKT", "TCR-T"):
        if preferred in types:
            return preferred
    return types[0]


def _cell_source(text: str, product: KnownProduct | None) -> str:
    if _ALLOGENEIC.search(text):
        return "allogeneic"
    if _AUTOLOGOUS.search(text):
        return "autologous"
    if product is not None:
        return product.source
    return "unknown"
