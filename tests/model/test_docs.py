import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_parameter_doc_is_current():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "generate_model_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs" / "model_parameters.md").read_text() == gen.render(), "run scripts/generate_model_docs.py"
