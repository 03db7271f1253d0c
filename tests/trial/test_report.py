"""report.html: written, self-contained, every figure and the simulated-vs-published table present."""

import re

from cartwin.trial.endpoints import compute_endpoints
from cartwin.trial.protocol import load_protocol
from cartwin.trial.report import FIGURES, comparison_table, write_report


def test_report_contains_every_figure(tmp_path, patients, timecourses):
    protocol = load_protocol("zuma-1")
    endpoints = compute_endpoints(patients, scale=protocol.reporting.crs_scale)
    path = write_report(patients, endpoints, protocol, tmp_path, timecourses=timecourses)
    text = path.read_text()
    assert path.name == "report.html"
    for fig in FIGURES:
        assert re.search(rf'<figure id="{fig}"><img alt="{fig}" src="data:image/png;base64,[A-Za-z0-9+/=]{{200,}}"', text), fig
    assert not re.search(r'(src|href)="?https?:', text)  # no network resources
    assert "<table id='targets'>" in text and "fitted" in text and "validation" in text
    assert "Neelapu" in text  # sources of the published values


def test_report_without_protocol_or_timecourses(tmp_path, patients):
    path = write_report(patients, compute_endpoints(patients), None, tmp_path)
    assert "no timecourses given" not in path.read_text()  # text is inside the PNG
    assert path.exists()


def test_comparison_table_marks_inside_ci(patients):
    protocol = load_protocol("zuma-1")
    endpoints = compute_endpoints(patients, scale="lee2014")
    comp = comparison_table(endpoints, protocol)
    assert set(comp.endpoint) == set(protocol.targets)
    row = comp.set_index("endpoint").loc["crs_any"]
    assert row.published_inside_sim_ci == (row.sim_ci_low <= 0.93 <= row.sim_ci_high)


def test_report_and_endpoints_say_which_parameters_the_patients_had(tmp_path):
    """A reader of the report alone can tell the calibrated model from an uncalibrated run."""
    import json

    from cartwin.trial.runner import calibrated_factors, run_trial

    protocol = load_protocol("zuma-1")
    result = run_trial("zuma-1", 12, 3, follow_up_days=60.0)
    paths = result.write(tmp_path / "cal")
    text = paths["report"].read_text()
    factors = calibrated_factors(protocol)
    assert result.parameters["factors"] == {k: float(v) for k, v in sorted(factors.items())} and factors
    assert "<table id='factors'>" in text and "k_prolif_per_day" in text
    assert json.loads(paths["endpoints"].read_text())["parameters"]["calibration"] == "calibrated"
    plain = run_trial("zuma-1", 12, 3, follow_up_days=60.0, calibrated=False).write(tmp_path / "plain")
    assert "none (published typical values)" in plain["report"].read_text()
    assert json.loads(plain["endpoints"].read_text())["parameters"] == {"calibration": "uncalibrated", "overrides": {}, "factors": {}}
