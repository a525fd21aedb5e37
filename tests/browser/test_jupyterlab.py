"""Every notebook, in a real JupyterLab, in headless Chromium: the failures only a browser sees.

nbval runs the cells in a kernel but never draws a widget. Here each notebook is opened in JupyterLab
(its stored outputs must read well as opened), its outputs cleared, all cells run, and once the kernel
is idle: every cell ran, none shows an error or writes to stderr, every widget output drew a widget (no
"Error displaying widget", no raw `VBox(...)` text where a widget belongs). Each multiple-choice widget
is answered wrong, then right, and the feedback read back; the storage calculator's rank slider is
dragged and its numbers and plot must change. One hands-on exercise is edited as a learner edits it: a
typical wrong answer typed into its code cell and run (its slip's message must show under "Not quite"),
then the solution (it must say "Correct"). A screenshot of each notebook is saved; a failure names
the notebook and the cell.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from tools.solved_run import exercises

from adapterlab.questions import all_questions

if TYPE_CHECKING:
    from conftest import Lab  # the server fixture's type (conftest.py beside this file)

# Seconds for one notebook to run all its cells in the browser (the budget is 45 s on 2 cores).
RUN_TIMEOUT = float(os.environ.get("ADAPTERLAB_BROWSER_TIMEOUT", "240"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# The repr ipywidgets prints when no frontend draws the widget: `VBox(children=(...` and the like.
RAW_WIDGET = re.compile(r"^\s*(VBox|HBox|Box|GridBox|Tab|Accordion|Stack|Output|HTML|HTMLMath|Label|Button"
                        r"|RadioButtons|Dropdown|Select|SelectMultiple|ToggleButtons|Checkbox|Text|Textarea"
                        r"|IntSlider|FloatSlider|FloatLogSlider|IntRangeSlider|SelectionSlider|Image)\(",
                        re.MULTILINE)
VERDICT = re.compile(r"^(Correct|Not quite):\s*(.*)", re.DOTALL)

# JavaScript, installed in every page: the notebook panel of a path. `window.jupyterapp` exists because
# the server runs with expose_app_in_browser.
PANEL_HELPER = """window.__adapterlabPanel = (name) => {
  const app = window.jupyterapp;
  if (!app) return null;
  return Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === name) || null;
};"""
OPEN_AND_START = """async (name) => {
  const panel = window.__adapterlabPanel(name);
  await panel.context.ready;
  await panel.sessionContext.ready;
  window.jupyterapp.shell.activateById(panel.id);
  await panel.revealed;
  return panel.sessionContext.session ? panel.sessionContext.session.kernel.name : null;
}"""
RUN_ALL = """async (name) => {
  const app = window.jupyterapp, panel = window.__adapterlabPanel(name);
  app.shell.activateById(panel.id);
  await app.commands.execute('notebook:clear-all-cell-outputs');
  window.__adapterlabRun = null;
  app.commands.execute('notebook:run-all-cells').then(
    ok => { window.__adapterlabRun = {ok: ok}; },
    err => { window.__adapterlabRun = {error: String(err)}; });
}"""
IDLE = """(name) => {
  const panel = window.__adapterlabPanel(name);
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const busy = panel.content.widgets.some(c => c.model.type === 'code' && c.promptNode &&
                                           c.promptNode.textContent.includes('*'));
  return window.__adapterlabRun !== null && !!kernel && kernel.status === 'idle' && !busy;
}"""
# Per cell: its source, what the model holds (outputs as JSON) and what the page shows for them.
CELLS = """(name) => window.__adapterlabPanel(name).content.widgets.map((cell, i) => {
  const m = cell.model;
  const row = {index: i, type: m.type, source: m.sharedModel.getSource()};
  if (m.type !== 'code') return row;
  row.execution_count = m.executionCount;
  row.outputs = m.outputs.toJSON().map(o => ({
    type: o.output_type, name: o.name || null, ename: o.ename || null, evalue: o.evalue || null,
    text: o.output_type === 'stream' ? String(Array.isArray(o.text) ? o.text.join('') : o.text)
        : (o.data && o.data['text/plain'] ? String(o.data['text/plain']) : ''),
    mimes: Object.keys(o.data || {})}));
  // ipywidgets' renderer puts the widget's own node (class jupyter-widgets) in the output area.
  row.rendered = Array.from(cell.node.querySelectorAll('.jp-OutputArea-output')).map(el => ({
    mime: el.getAttribute('data-mime-type'), text: el.innerText.slice(0, 2000),
    widget: Array.from(el.children).some(child => child.classList.contains('jupyter-widgets')),
    height: el.getBoundingClientRect().height}));
  return row;
})"""
# A fingerprint of what a calculator draws (images, SVG, canvases), leaving out its numbers.
PLOT_FINGERPRINT = """(box) => {
  const parts = [];
  for (const el of box.querySelectorAll('img, svg, canvas')) {
    if (el.closest('.adapterlab-calculator-numbers')) continue;
    if (el.tagName === 'IMG') parts.push(el.src);
    else if (el.tagName === 'CANVAS') parts.push(el.toDataURL());
    else if (!el.parentElement.closest('svg')) parts.push(el.outerHTML);
  }
  return parts.join('|');
}"""
# Scrolls the notebook to its top and returns how much taller than its window its content is.
NOTEBOOK_OVERFLOW = """(name) => {
  window.jupyterapp.shell.collapseLeft();
  const node = window.__adapterlabPanel(name).content.node;
  const scroller = node.querySelector('.jp-WindowedPanel-outer') || node;
  scroller.scrollTop = 0;
  return scroller.scrollHeight - scroller.clientHeight;
}"""
CLOSE = """async (name) => {
  const panel = window.__adapterlabPanel(name);
  if (!panel) return;
  await panel.sessionContext.shutdown();
  panel.dispose();
}"""


def _where(name: str, cell: dict) -> str:
    first = next((line for line in cell["source"].splitlines() if line.strip()), "").strip()
    count = cell.get("execution_count")
    return f"{name} cell {cell['index'] + 1} ([{count if count is not None else ' '}] {first[:60]!r})"


def _waited(page, predicate: str, arg, timeout: float, polling: float = 250) -> bool:
    """Playwright's `wait_for_function`: True once `predicate(arg)` holds in the page, False at `timeout` seconds."""
    try:
        page.wait_for_function(predicate, arg=arg, polling=polling, timeout=timeout * 1000)
        return True
    except PlaywrightTimeout:
        return False


# True once `read()` has returned the same value, with the notebook idle, for `quiet` ms. The state lives in the
# page between polls, under `key` (one key per wait, so no wait starts from another's state).
STEADY = """(read) => ([key, name, quiet, ...args]) => {
  const now = performance.now(), value = JSON.stringify(read(...args)), idle = (IDLE)(name);
  const last = (window.__adapterlabSteady = window.__adapterlabSteady || {})[key];
  if (!idle || !last || last.value !== value) { window.__adapterlabSteady[key] = {value, since: now}; return false; }
  return now - last.since >= quiet;
}""".replace("(IDLE)", f"({IDLE})")


def _wait_until_idle(page, name: str, timeout: float, quiet: float = 1.5) -> bool:
    """Returns True once the notebook has stayed idle for `quiet` seconds, False at `timeout`.

    Idle for one poll is not enough: right after the last cell, widget messages can make the kernel
    busy again for a moment (seen in CI as a notebook that ran in 11 s reported as 'still running').
    """
    steady_idle = f"({STEADY})(() => 0)"
    return _waited(page, steady_idle, [f"idle {time.monotonic_ns()}", name, quiet * 1000], timeout)


def _stored_widget_problems(page, name: str, timeout: float = 15.0) -> list[str]:
    """What a learner sees on opening the notebook, before running anything.

    A freshly cloned notebook is untrusted, so JupyterLab shows each stored widget output as its
    text/plain fallback: that text must read as a sentence, not as `VBox(children=(...`. Widgets it
    does draw must draw, not say "Error displaying widget: model not found".
    """
    loaded = f"(name) => !({CELLS})(name).some(c => (c.rendered || []).some(r => r.text.includes('Loading widget')))"
    _waited(page, loaded, name, timeout)  # still loading at the timeout: reported below
    cells = [cell for cell in page.evaluate(CELLS, name) if cell["type"] == "code"]
    texts = [(cell, r["text"]) for cell in cells for r in cell["rendered"]]
    problems = []
    for cell, text in texts:
        where = f"{_where(name, cell)}, as opened before running"
        if "Loading widget" in text or "Error displaying widget" in text:
            problems.append(f"{where}: {text.strip()[:80]!r}")
        elif RAW_WIDGET.search(text):
            problems.append(f"{where}: the stored output reads {text.strip()[:60]!r}; give the widget a readable "
                            "text/plain (as ChoiceQuestion does), which is what an untrusted notebook shows")
    return problems


def expected_stderr(name: str) -> dict[int, str]:
    """{cell index: the start of the one stderr text that cell may write}: a cell whose lesson is a library's own
    warning declares it in its metadata (`"adapterlab": {"stderr": "<start of the warning>"}`, notebook 04c's
    accelerate notice about offloaded parameters); any other stderr, there or elsewhere, is a problem."""
    notebook = nbformat.read(Path(__file__).parents[2] / "notebooks" / name, as_version=4)
    return {index: cell.metadata["adapterlab"]["stderr"] for index, cell in enumerate(notebook.cells)
            if "stderr" in cell.metadata.get("adapterlab", {})}


def _output_problems(name: str, cells: list[dict]) -> list[str]:
    """What is wrong in the outputs of the cells once the run has finished."""
    problems = []
    allowed = expected_stderr(name)
    for cell in cells:
        if cell["type"] != "code" or not cell["source"].strip():
            continue
        where = _where(name, cell)
        if cell["execution_count"] is None:
            problems.append(f"{where}: did not run (an earlier cell failed, or the run timed out)")
        for out in cell["outputs"]:
            if out["type"] == "error":
                problems.append(f"{where}: raised {out['ename']}: {out['evalue']}")
            elif out["type"] == "stream" and out["name"] == "stderr" and not (
                    cell["index"] in allowed and out["text"].strip().startswith(allowed[cell["index"]])):
                problems.append(f"{where}: wrote to stderr: {out['text'].strip()[:300]!r}")
            if RAW_WIDGET.search(out["text"]) and WIDGET_MIME not in out["mimes"]:
                problems.append(f"{where}: shows a widget's repr as text: {out['text'].strip()[:120]!r}")
        wanted = sum(WIDGET_MIME in out["mimes"] for out in cell["outputs"])
        drawn = [r for r in cell["rendered"] if r["widget"]]
        for rendered in cell["rendered"]:
            if "Error displaying widget" in rendered["text"]:
                problems.append(f"{where}: {rendered['text'].strip()[:200]!r}")
            elif rendered["widget"] and rendered["height"] < 1:
                problems.append(f"{where}: a widget output is blank (nothing drawn)")
        if len(drawn) < wanted:
            shown = [r["mime"] or r["text"].strip()[:40] for r in cell["rendered"] if not r["widget"]]
            problems.append(f"{where}: {wanted} widget output(s) but {len(drawn)} drawn as widgets (shown: {shown})")
    return problems


# The feedback element shows a verdict other than the one it showed before the click.
NEW_VERDICT = """([el, before]) => {
  const text = el.innerText.trim();
  return text !== before && /^(Correct|Not quite):/.test(text);
}"""


def _answer(radios, check, feedback, index: int, timeout: float = 10.0) -> str:
    """Picks choice `index`, clicks Check, and returns the feedback the kernel writes back."""
    before = feedback.inner_text().strip()
    radios.nth(index).check()
    check.click()
    _waited(feedback.page, NEW_VERDICT, [feedback.element_handle(), before], timeout, polling=100)
    return feedback.inner_text().strip()


def _answer_choice_widgets(page, name: str, shots: Path) -> tuple[list[str], int]:
    """Answers each multiple-choice widget wrong, then right; returns problems and the clicks made."""
    problems, clicks = [], 0
    boxes = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .adapterlab-choice")
    for number in range(boxes.count()):
        box = boxes.nth(number)
        box.scroll_into_view_if_needed()
        prompt = box.locator(".widget-html-content").first.inner_text().strip()
        label = f"{name} choice widget {number + 1} ({prompt[:60]!r})"
        parts = (box.locator("input[type=radio]"), box.locator("button", has_text="Check"),
                 box.locator(".widget-html-content").last)
        results: list[tuple[int, str]] = []  # (choice index, feedback text)
        verdicts: list[str] = []
        for index in range(parts[0].count()):
            results.append((index, _answer(*parts, index)))
            verdicts = [VERDICT.match(text)[1] if VERDICT.match(text) else text for _, text in results]
            if "Not quite" in verdicts and verdicts[-1] == "Correct":
                break
        clicks += len(results)
        right = [index for index, text in results if text.startswith("Correct:")]
        if not right or "Not quite" not in verdicts:
            problems.append(f"{label}: expected 'Correct' for one choice and 'Not quite' for the others, "
                            f"got {[text[:40] for _, text in results]}")
            continue
        if verdicts[-1] != "Correct":  # the right answer came first: finish on it, after a wrong one
            results.append((right[0], _answer(*parts, right[0])))
            clicks += 1
            if not results[-1][1].startswith("Correct:"):
                problems.append(f"{label}: the right choice answered {results[-1][1]!r} the second time")
        if any(not VERDICT.match(text)[2].strip() for _, text in results if VERDICT.match(text)):
            problems.append(f"{label}: a feedback came without an explanation: {[t for _, t in results]}")
        box.screenshot(path=str(shots / f"{Path(name).stem}-choice-{number + 1}.png"))
    return problems, clicks


# What a calculator shows: its numbers and a fingerprint of its plot.
CALCULATOR_VIEW = f"""(box) => [box.querySelector('.adapterlab-calculator-numbers').innerText,
                                ({PLOT_FINGERPRINT})(box)]"""


def _settle(page, name: str, box, quiet: float = 1.0, timeout: float = 30.0) -> tuple[str, str]:
    """Returns what calculator `box` shows once it has stopped changing for `quiet` seconds and the kernel is idle."""
    steady_view = f"({STEADY})({CALCULATOR_VIEW})"
    _waited(page, steady_view, [f"view {time.monotonic_ns()}", name, quiet * 1000, box.element_handle()], timeout)
    return tuple(box.evaluate(CALCULATOR_VIEW))


def _drag_to_other_side(page, slider) -> None:
    """Drags the slider's handle, like a learner with a mouse, to the far side of its track."""
    track = slider.locator(".noUi-target").first.bounding_box()
    handle = slider.locator(".noUi-handle").first.bounding_box()
    here, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    there = track["x"] + track["width"] * (0.85 if here < track["x"] + track["width"] / 2 else 0.15)
    page.mouse.move(here, y)
    page.mouse.down()
    page.mouse.move(there, y, steps=12)
    page.mouse.up()


def _move_calculator(page, name: str, shots: Path) -> list[str]:
    """Drags each calculator's rank slider; its numbers and its plot must change."""
    problems = []
    boxes = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .adapterlab-calculator")
    for number in range(boxes.count()):
        box, label = boxes.nth(number), f"{name} calculator {number + 1}"
        box.scroll_into_view_if_needed()
        sliders = box.locator(".widget-slider").filter(
            has=page.locator(".widget-label", has_text=re.compile(r"^\s*rank\b", re.IGNORECASE)))
        numbers = box.locator(".adapterlab-calculator-numbers")
        if sliders.count() == 0 or numbers.count() == 0:
            problems.append(f"{label}: needs a slider described 'rank' ({sliders.count()} found) and an element "
                            f"of class adapterlab-calculator-numbers ({numbers.count()} found)")
            continue

        before_numbers, before_plot = box.evaluate(CALCULATOR_VIEW)
        if not before_plot:
            problems.append(f"{label}: draws no plot (no image, SVG or canvas)")
        box.screenshot(path=str(shots / f"{Path(name).stem}-calculator-{number + 1}-before.png"))
        _drag_to_other_side(page, sliders.first)
        # The slider sends values while it moves; wait until the kernel has drawn the last one.
        after_numbers, after_plot = _settle(page, name, box)
        if after_numbers == before_numbers:
            problems.append(f"{label}: moving the rank slider left the numbers as they were: {before_numbers!r}")
        if before_plot and after_plot == before_plot:
            problems.append(f"{label}: moving the rank slider left the plot as it was")
        box.screenshot(path=str(shots / f"{Path(name).stem}-calculator-{number + 1}-after.png"))
    return problems


# The hands-on exercise each notebook's browser run edits, the slip it types first (a silent failure), and
# the imports its code needs here, where the test works out the message the check must show for it.
HANDS_ON = {"01_lora_wrapping.ipynb": ("01.attn_c_proj", "mlp_too",
                                       "from peft import LoraConfig, get_peft_model\n"
                                       "from adapterlab.models import load_model")}
# What a cell shows once it has run: its execution count, its outputs' text/plain, and the page's text.
CELL_OUTPUT = """([name, index]) => {
  const cell = window.__adapterlabPanel(name).content.widgets[index];
  const outputs = cell.model.outputs.toJSON();
  const plain = outputs.map(o => o.data && o.data['text/plain'] ? String(o.data['text/plain']) : '').join('');
  const drawn = Array.from(cell.node.querySelectorAll('.jp-OutputArea-output')).map(el => el.innerText).join('');
  return {count: cell.model.executionCount, plain: plain, drawn: drawn.trim()};
}"""


def _type_and_run(page, name: str, index: int, source: str, timeout: float = 60.0) -> dict:
    """Replaces cell `index`'s code as a learner does (click, select all, type), runs it, returns what it shows."""
    before = page.evaluate(CELL_OUTPUT, [name, index])["count"]
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(source)  # as pasted: the editor's auto-indent and bracket closing stay out of it
    page.keyboard.press("Shift+Enter")
    answered = f"""([name, index, before]) => {{
      const shown = ({CELL_OUTPUT})([name, index]);
      return shown.count !== null && shown.count !== before && /^(Correct|Not quite):/.test(shown.plain)
             && ({IDLE})(name);
    }}"""
    _waited(page, answered, [name, index, before], timeout)  # not answered in time: the caller reports what shows
    return page.evaluate(CELL_OUTPUT, [name, index])


def _words(text: str) -> list[str]:
    """The words of a message as the page draws it: code spans lose their backticks, line breaks are spaces."""
    return text.replace("`", "").split()


def _edit_hands_on_exercise(page, name: str, shots: Path) -> tuple[list[str], int]:
    """Types a typical wrong answer into a hands-on exercise and runs it, then the solution; returns problems, runs.

    The wrong answer must show "Not quite" and the slip's own message (worked out here by running the slip's
    code and the question's check in this process); the solution must show "Correct" and the success message.
    """
    if name not in HANDS_ON:
        return [], 0
    question_id, mistake, imports = HANDS_ON[name]
    question = next(q for q in all_questions() if q.id == question_id)
    slip = next(slip for slip in question.slips if slip.mistake == mistake)
    notebook = nbformat.read(Path(__file__).parents[2] / "notebooks" / name, as_version=4)
    exercise = next(e for e in exercises(notebook) if e.question_id == question_id)
    namespace: dict = {}
    exec(f"{imports}\n{slip.code}", namespace)
    found = question.diagnose(eval(exercise.arg, namespace))
    assert found and found[0] == mistake, found  # the solved run checks this too
    check_line = f"{exercise.name}.check({exercise.arg})"
    label, problems = f"{name} hands-on exercise {question_id}", []
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(exercise.index)
    for code, verdict, message, shot in ((slip.code, "Not quite", found[1], "wrong"),
                                         (question.solution_code, "Correct", question.success, "right")):
        shown = _type_and_run(page, name, exercise.index, f"{code}\n\n{check_line}")
        cell.screenshot(path=str(shots / f"{Path(name).stem}-hands-on-{shot}.png"))
        if shown["plain"] != f"{verdict}: {message}":
            problems.append(f"{label}: expected {verdict!r} and its message, the kernel answered "
                            f"{shown['plain'][:160]!r}")
        elif _words(shown["drawn"]) != _words(f"{verdict}: {message}"):
            problems.append(f"{label}: the page shows {shown['drawn'][:160]!r}, not the {verdict!r} message")
    return problems, 2


def _screenshot_notebook(page, name: str, path: Path) -> None:
    """The whole notebook in one picture: the window is made as tall as the notebook first."""
    size = page.viewport_size
    overflow = max(0, int(page.evaluate(NOTEBOOK_OVERFLOW, name)))
    page.set_viewport_size({"width": size["width"], "height": min(size["height"] + overflow, 30_000)})
    page.evaluate(NOTEBOOK_OVERFLOW, name)  # back to the top after the resize
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def _attempts(lab: Lab) -> int:
    try:
        return sum(entry["attempts"] for entry in json.loads(lab.progress.read_text()).values())
    except FileNotFoundError:
        return 0


def _run(page, name: str, lab: Lab, screenshots: Path) -> list[str]:
    # Not awaited in the page: the command resolves to the notebook widget, which cannot travel back here.
    page.evaluate("(name) => { window.jupyterapp.commands.execute('docmanager:open', {path: name}); }", name)
    page.wait_for_function(f"() => window.__adapterlabPanel({name!r}) !== null", timeout=90_000)
    if not page.evaluate(OPEN_AND_START, name):
        return [f"{name}: JupyterLab started no kernel for the notebook"]
    problems = _stored_widget_problems(page, name)
    started = time.monotonic()
    page.evaluate(RUN_ALL, name)
    idle = _wait_until_idle(page, name, RUN_TIMEOUT)
    lab.timings[name] = round(time.monotonic() - started, 1)
    cells = page.evaluate(CELLS, name)
    if not idle:
        waiting = [_where(name, c) for c in cells if c["type"] == "code" and c["execution_count"] is None]
        problems.append(f"{name}: still running after {RUN_TIMEOUT:.0f} s; first cell not done: "
                        f"{waiting[0] if waiting else '?'}")
    problems += _output_problems(name, cells)
    _screenshot_notebook(page, name, screenshots / f"{Path(name).stem}.png")
    if problems:  # interact only with a notebook that ran cleanly
        return problems
    attempts = _attempts(lab)
    choice_problems, clicks = _answer_choice_widgets(page, name, screenshots)
    problems += choice_problems + _move_calculator(page, name, screenshots)
    hands_on_problems, runs = _edit_hands_on_exercise(page, name, screenshots)
    problems += hands_on_problems
    clicks += runs
    recorded = _attempts(lab) - attempts
    if recorded < clicks:
        problems.append(f"{name}: {clicks} answers clicked, but the progress file recorded {recorded}")
    return problems


class LabPage:
    """One JupyterLab page for the whole run (loading JupyterLab once saves seconds per notebook)."""

    def __init__(self, browser, lab: Lab):
        self.browser, self.lab, self.errors = browser, lab, []
        self.page = None

    def get(self):
        """Returns the page, loading JupyterLab in a new one if there is none or it crashed."""
        if self.page is None or self.page.is_closed():
            self.page = self.browser.new_page()
            self.page.add_init_script(PANEL_HELPER)
            self.page.on("pageerror", lambda error: self.errors.append((str(error).strip() or "?").splitlines()[0]))
            self.page.goto(f"{self.lab.url}/lab?reset&token={self.lab.token}", timeout=90_000)
            self.page.wait_for_function("() => !!window.jupyterapp", timeout=90_000)
            self.page.evaluate("async () => { await window.jupyterapp.restored; }")
        return self.page


@pytest.fixture(scope="session")
def lab_page(browser, lab: Lab):
    holder = LabPage(browser, lab)
    yield holder
    if holder.page is not None and not holder.page.is_closed():
        holder.page.close()


@pytest.mark.browser
def test_notebook_runs_and_draws_in_jupyterlab(notebook: str, lab_page: LabPage, lab: Lab, screenshots: Path):
    """The notebook runs top to bottom in JupyterLab without errors, and its widgets draw and answer.

    `notebook` is each file name in notebooks/ (conftest.py parametrizes it).
    """
    name = notebook
    page = lab_page.get()
    lab_page.errors.clear()
    try:
        problems = _run(page, name, lab, screenshots)
    finally:
        try:
            page.evaluate(CLOSE, name)  # shut its kernel down (memory) and close its tab
        except Exception:  # a page that cannot even do that is replaced for the next notebook
            page.close()
    problems += [f"{name}: JavaScript error in the page: {error}" for error in lab_page.errors]
    if problems:
        shot = screenshots / f"{Path(name).stem}.png"
        pytest.fail(f"{len(problems)} problem(s) in {name} (screenshot: {shot}):\n  " + "\n  ".join(problems),
                    pytrace=False)
