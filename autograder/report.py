"""What a grading run writes: the score table on the terminal, results.json in Gradescope's schema, JUnit XML,
and an HTML feedback page with every check's message and the lesson's figures."""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from autograder.border import clean_text
from autograder.checks import FIGURES, Verdict
from autograder.grade import GradeReport

MESSAGE_LIMIT = 4000  # characters of one message in any report


def _t(text) -> str:
    """Every string that may hold a submission's text goes out through here (border.clean_text)."""
    return clean_text(text, MESSAGE_LIMIT)


def _status(v: Verdict) -> str:
    return "ERROR" if v.internal_error else ("pass" if v.passed else "FAIL")


def table(report: GradeReport) -> str:
    """The score table, then the message of every check that did not pass."""
    width = max(len(v.check) for v in report.verdicts) if report.verdicts else 10
    lines = [f"{'check':<{width}}  {'points':>7}  status", f"{'-' * width}  {'-' * 7}  ------"]
    for check, v in zip(report.checks, report.verdicts):
        lines.append(f"{v.check:<{width}}  {v.score:>3g} / {v.max_score:<2g}  {_status(v)}"
                     f"{'' if check.visibility == 'visible' else '  (hidden)'}")
    lines.append(f"{'total':<{width}}  {report.score:>3g} / {report.max_score:<2g}")
    if report.manual_points:
        lines.append(f"({_t(report.points_text)})")
    for warning in report.warnings:
        lines.append(f"\ngrader warning: {_t(warning)}")
    for problem in report.problems:
        lines.append(f"\nnotebook: {_t(problem)}")
    for skipped in report.skipped:
        lines.append(f"\nnot run in grading (costs nothing by itself): {_t(skipped)}")
    for v in report.verdicts:
        if not v.passed:
            lines.append(f"\n{v.check}:\n  " + _t(v.message).replace("\n", "\n  "))
    calibration = f"; thresholds {_t(report.calibration)}" if report.calibration else ""
    lines.append(f"\n(device placement checked on {_t(report.device)}; training on cpu; sandbox: {report.isolation}"
                 f"{calibration}; {report.seconds:.1f} s)")
    return "\n".join(lines)


def results_json(report: GradeReport) -> dict:
    """Gradescope's autograder results schema. Every test is "visible": what a hidden check's output says is
    already what the course's feedback policy lets students read (write_all applies it; autograder.disclosure)."""
    return {
        "score": report.score,
        "execution_time": round(report.seconds, 2),
        "extra_data": {"automatic_points": report.max_score, "manual_points": report.manual_points,
                       "total_points": report.max_score + report.manual_points, "points": _t(report.points_text),
                       "isolation": report.isolation, "device": _t(report.device),
                       "calibration": _t(report.calibration), "warnings": [_t(w) for w in report.warnings],
                       "grader_run": report.grader_run, "integrity": [_t(f) for f in report.integrity]},
        "output": _t(report.points_text) + ".\n" + (
            "\n".join([f"grader warning: {_t(w)}" for w in report.warnings] +
                      [f"notebook: {_t(p)}" for p in report.problems] +
                      [f"not run in grading (costs nothing by itself): {_t(s)}" for s in report.skipped])
            or "All checks ran."),
        "tests": [
            {"name": v.check, "score": v.score, "max_score": v.max_score, "status": "passed" if v.passed else "failed",
             "visibility": "visible", "output": _t(v.message), "output_format": "text"}
            for check, v in zip(report.checks, report.verdicts)
        ],
    }


def junit_xml(report: GradeReport) -> ET.ElementTree:
    suite = ET.Element("testsuite", name="autograder", tests=str(len(report.verdicts)),
                       failures=str(sum(not v.passed and not v.internal_error for v in report.verdicts)),
                       errors=str(sum(v.internal_error for v in report.verdicts)), time=f"{report.seconds:.2f}")
    for v in report.verdicts:
        case = ET.SubElement(suite, "testcase", classname="autograder", name=v.check)
        ET.SubElement(case, "properties").append(ET.Element("property", name="points", value=f"{v.score:g}/{v.max_score:g}"))
        if v.internal_error:
            ET.SubElement(case, "error", message=_t(v.observed)).text = _t(v.message)
        elif not v.passed:
            ET.SubElement(case, "failure", message=_t(v.observed)).text = _t(v.message)
    return ET.ElementTree(suite)


def _png(draw) -> str:
    import matplotlib

    matplotlib.use("agg", force=False)
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig = draw(buffer)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def figures(report: GradeReport) -> list[tuple[str, str | None, str]]:
    """(caption, base64 PNG or None, why it is missing) for each figure its check declares (autograder.checks.FIGURES)
    whose check was judged: the
    student's own model (end_to_end) and the grader's model trained by the student's train()."""
    from autograder.resources import lesson_module

    lesson = lesson_module()  # the lesson's own plots: the feedback looks like the student's notebook
    by_name = {v.check: v for v in report.verdicts}
    found = []
    for name, figure in FIGURES:
        detail, caption = figure.detail, figure.caption
        v = by_name.get(name)
        if v is None:
            continue
        if detail not in v.details:
            found.append((caption, None, f"not drawn: {clean_text(v.observed, 300)}"))
            continue
        if detail == "after":
            draw = (lambda out, v=v: lesson.plot_embeddings(v.details["before"], v.details["after"],
                                                            v.details["labels"], path=out, title=""))
        else:
            draw = (lambda out, v=v, detail=detail: lesson.plot_learning_curve(v.details[detail], path=out, title=""))
        found.append((caption, _png(draw), ""))
    return found


HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: {{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; } td, th { padding: .3rem .8rem; border-bottom: 1px solid #ddd; text-align: left; }
.pass { color: #176117; } .fail { color: #a11; } pre { white-space: pre-wrap; background: #f6f6f6; padding: .6rem; }
img { max-width: 100%; }
</style></head><body>
<h1>Feedback: {{ title }}</h1>
<p><strong>Score: {{ '%g' % report.score }} / {{ '%g' % report.max_score }}</strong> ({{ clean(report.points_text) }})<br>
(device placement checked on {{ clean(report.device) }}, training on cpu, sandbox: {{ report.isolation }}, {{ '%.1f' % report.seconds }} s)</p>
{% for warning in report.warnings %}<p class="fail">Grader warning: {{ clean(warning) }}</p>{% endfor %}
{% for problem in report.problems %}<p class="fail">Notebook: {{ clean(problem) }}</p>{% endfor %}
{% for skipped in report.skipped %}<p>Not run in grading (costs nothing by itself): {{ clean(skipped) }}</p>{% endfor %}
<table><tr><th>check</th><th>what it checks</th><th>points</th><th>status</th></tr>
{% for check, v in rows %}<tr><td class="{{ 'pass' if v.passed else 'fail' }}">{{ v.check }}</td><td title="{{ check.hint }}">{{ check.title }}</td>
<td>{{ '%g' % v.score }} / {{ '%g' % v.max_score }}</td><td class="{{ 'pass' if v.passed else 'fail' }}">{{ status(v) }}</td></tr>{% endfor %}
</table>
{% for check, v in rows %}<h2 class="{{ 'pass' if v.passed else 'fail' }}">{{ v.check }}: {{ 'passed' if v.passed else 'not passed' }}</h2>
<pre>{{ clean(v.message) }}</pre>{% endfor %}
{% if figures %}<h2>Figures</h2>{% endif %}
{% for caption, png, missing in figures %}{% if png %}<figure><img alt="{{ caption }}" src="data:image/png;base64,{{ png }}">
<figcaption>{{ caption }}</figcaption></figure>{% else %}<p class="missing"><strong>{{ caption }}</strong>: {{ missing }}</p>{% endif %}{% endfor %}
</body></html>
"""


def feedback_html(report: GradeReport, with_figures: bool = True) -> str:
    from jinja2 import Environment

    template = Environment(autoescape=True).from_string(HTML)
    return template.render(title=_t(Path(report.notebook).name), report=report, clean=_t,
                           status=lambda v: "grader error" if v.internal_error else ("passed" if v.passed else "not passed"),
                           rows=list(zip(report.checks, report.verdicts)),
                           figures=figures(report) if with_figures else [])


def instructor_text(report: GradeReport) -> str:
    """The instructor's report: the whole table and every message, whatever the course shows its students, and the
    integrity flags (autograder.integrity)."""
    flags = "\n".join(f"  {_t(flag)}" for flag in report.integrity) or "  none"
    return (f"{_t(Path(report.notebook).name)}: the instructor's report (every message in full)\n\n"
            f"{table(report)}\n\nIntegrity flags (code that reaches for the grader; a flag never changes a "
            f"score, it says where to look):\n{flags}\n")


def write_all(report: GradeReport, out: Path, policy: str = "fix") -> dict[str, Path]:
    """results.json, junit.xml and feedback.html in `out`, the students' reports: hidden checks say what the
    course's feedback `policy` lets them say (autograder.disclosure); instructor.txt beside them, complete. Each is
    written atomically, and even when another fails (a figure that cannot be drawn leaves a page without it); the
    first failure is raised after."""
    from autograder.disclosure import for_students

    complete, report = report, for_students(report, policy)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.json", "junit": out / "junit.xml", "feedback": out / "feedback.html",
             "instructor": out / "instructor.txt"}

    def feedback() -> bytes:
        try:
            return feedback_html(report).encode("utf-8")
        except Exception:  # noqa: BLE001 - the page without its figures rather than no page
            return feedback_html(report, with_figures=False).encode("utf-8")

    def junit() -> bytes:
        buffer = io.BytesIO()
        junit_xml(report).write(buffer, encoding="utf-8", xml_declaration=True)
        return buffer.getvalue()

    writers = {"results": lambda: json.dumps(results_json(report), indent=2).encode(), "junit": junit,
               "feedback": feedback, "instructor": lambda: instructor_text(complete).encode("utf-8")}
    failure = None
    for key, make in writers.items():
        try:
            content = make()
            tmp = paths[key].with_name(f".{paths[key].name}.tmp")
            tmp.write_bytes(content)
            tmp.replace(paths[key])
        except Exception as err:  # noqa: BLE001
            failure = failure or err
    if failure is not None:
        raise failure
    return paths
