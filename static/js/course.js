// One step of the course: progress ticks in the curriculum, the hints unlocked so far,
// the student's file (read-only; "Start this step" copies the starter), and Check with
// its per-assertion report. Instructors can check the starter or the reference solution
// instead of their own file. In read-only mode the template has no buttons for any of it.

import {
  checkExercise,
  getExercise,
  getExerciseFile,
  getExercises,
  hasToken,
  startExercise,
  unlockHint,
} from './api.js';
import { clear, h, setLessonHTML } from './dom.js';

const WHICH_NAMES = { workspace: 'your file', starter: 'the starter', solution: 'the reference solution' };
const STATUS = {
  true: { key: 'pass', text: 'PASS' },
  false: { key: 'fail', text: 'FAIL' },
  null: { key: 'not-run', text: 'NOT RUN' },
};

/** The file's lines, numbered; the lines with a TODO stand out. */
function fileView(text) {
  const lines = text.replace(/\n$/, '').split('\n');
  return h(
    'pre',
    { class: 'file-text', 'data-testid': 'file-text' },
    h(
      'code',
      {},
      lines.map((line, i) =>
        h('span', { class: /\bTODO\b/.test(line) ? 'line todo' : 'line', 'data-n': i + 1 }, `${line}\n`),
      ),
    ),
  );
}

export class Course {
  constructor(app) {
    this.app = app;
    this.number = Number(app.dataset.exercise);
    this.readOnly = app.dataset.readOnly === 'true';
    this.hintsTotal = Number(app.dataset.hints) || 0;
    const $ = (id) => document.getElementById(id);
    this.el = {
      progress: $('progress'),
      passed: $('passed-badge'),
      hints: $('hints'),
      hintsNone: $('hints-none'),
      hintBtn: $('hint-btn'),
      file: $('file'),
      filePath: $('file-path'),
      reload: $('file-reload'),
      results: $('results'),
      report: $('report'),
      which: $('check-which'),
      check: $('check-btn'),
      busy: $('check-busy'),
      verdict: $('check-verdict'),
      tokenHint: $('token-hint'),
    };
    this.checking = false;
    this.lastReport = null;
    if (this.el.hintBtn) this.el.hintBtn.addEventListener('click', () => this.showHint());
    if (this.el.check) this.el.check.addEventListener('click', () => this.check());
    if (this.el.reload) this.el.reload.addEventListener('click', () => this.loadFile());
    if (this.el.verdict) this.el.verdict.addEventListener('click', () => this.revealReport());
    if (this.el.tokenHint) this.el.tokenHint.hidden = hasToken();
  }

  /** What the tests can read: window.cnilab.course.state */
  get state() {
    return { checking: this.checking, report: this.lastReport };
  }

  load() {
    this.loadProgress();
    this.loadDetail();
    this.loadFile();
  }

  // -- progress -------------------------------------------------------------------------

  async loadProgress() {
    let listing;
    try {
      listing = await getExercises();
    } catch {
      return;
    }
    let done = 0;
    for (const ex of listing.exercises) {
      const li = document.querySelector(`.step[data-number="${ex.number}"]`);
      if (!li) continue;
      li.classList.toggle('passed', Boolean(ex.passed));
      li.querySelector('.step-passed').hidden = !ex.passed;
      if (ex.passed) done += 1;
      if (ex.number === this.number) this.el.passed.hidden = !ex.passed;
    }
    this.el.progress.textContent = `${done} of ${listing.exercises.length} steps passed`;
  }

  // -- hints ----------------------------------------------------------------------------

  async loadDetail() {
    try {
      const detail = await getExercise(this.number);
      this.showHints(detail.hints_html || []);
      this.el.passed.hidden = !detail.passed;
    } catch (e) {
      if (this.el.hints) this.el.hints.replaceChildren(h('li', { class: 'error', text: e.message }));
    }
  }

  showHints(hintsHtml) {
    if (!this.el.hints) return;
    this.el.hints.replaceChildren(
      ...hintsHtml.map((html, i) =>
        h(
          'li',
          { class: 'hint-card', 'data-testid': 'hint' },
          h('h3', { text: `Hint ${i + 1}` }),
          setLessonHTML(h('div', { class: 'hint-body' }), html),
        ),
      ),
    );
    this.el.hintsNone.hidden = hintsHtml.length > 0;
    const btn = this.el.hintBtn;
    if (!btn) return;
    const all = hintsHtml.length >= this.hintsTotal;
    btn.disabled = all;
    btn.textContent = all
      ? `All ${this.hintsTotal} hints shown`
      : `Show a hint (${hintsHtml.length + 1} of ${this.hintsTotal})`;
  }

  async showHint() {
    const btn = this.el.hintBtn;
    btn.disabled = true;
    try {
      const shown = await unlockHint(this.number);
      this.showHints(shown.hints_html || []);
      const cards = this.el.hints.querySelectorAll('.hint-card');
      if (cards.length) cards[cards.length - 1].scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    } catch (e) {
      btn.disabled = false;
      this.showError(`Could not show a hint: ${e.message}`);
    }
  }

  // -- the student's file ---------------------------------------------------------------

  async loadFile() {
    let file;
    try {
      file = await getExerciseFile(this.number, 'workspace');
    } catch (e) {
      this.el.file.replaceChildren(h('p', { class: 'error', text: `Could not read your file: ${e.message}` }));
      return;
    }
    this.el.filePath.textContent = file.path;
    this.el.reload.hidden = !file.exists;
    if (file.exists) {
      this.el.file.replaceChildren(fileView(file.text));
      return;
    }
    const parts = [h('p', { class: 'muted', text: 'You have not started this step yet.' })];
    if (!this.readOnly) {
      parts.push(
        h(
          'p',
          {},
          h('button', {
            type: 'button',
            class: 'btn btn-primary',
            'data-role': 'action',
            'data-testid': 'start-button',
            text: 'Start this step',
            onclick: (event) => this.start(event.currentTarget),
          }),
          ' ',
          h('span', { class: 'muted', text: 'copies the starter to ' }),
          h('code', { text: file.path }),
          h('span', { class: 'muted', text: '; edit it there, then press Check.' }),
        ),
      );
    }
    this.el.file.replaceChildren(h('div', { class: 'start-card', 'data-testid': 'not-started' }, ...parts));
  }

  async start(button) {
    button.disabled = true;
    button.textContent = 'Starting…';
    try {
      await startExercise(this.number);
      await this.loadFile();
    } catch (e) {
      button.disabled = false;
      button.textContent = 'Start this step';
      this.showError(`Could not start this step: ${e.message}`);
    }
  }

  // -- check ----------------------------------------------------------------------------

  async check() {
    const which = this.el.which.value;
    const what = WHICH_NAMES[which];
    this.checking = true;
    this.el.check.disabled = true;
    this.el.which.disabled = true;
    this.el.verdict.hidden = true;
    this.el.busy.textContent = `checking ${what} in the lab (pods, pings: a few seconds)…`;
    this.el.busy.hidden = false;
    this.app.dataset.checking = 'true';
    try {
      const report = await checkExercise(this.number, which);
      this.lastReport = { ...report, which };
      this.showReport(report, which);
      if (which === 'workspace') {
        this.loadFile();
        if (report.passed) this.loadProgress();
      }
    } catch (e) {
      this.lastReport = null;
      this.showError(`Could not check ${what}: ${e.message}`);
    } finally {
      this.checking = false;
      delete this.app.dataset.checking;
      this.el.check.disabled = false;
      this.el.which.disabled = false;
      this.el.busy.hidden = true;
    }
  }

  showError(message) {
    this.el.results.hidden = false;
    this.el.report.replaceChildren(h('p', { class: 'error', role: 'alert', 'data-testid': 'course-error', text: message }));
    this.revealReport();
  }

  revealReport() {
    this.el.results.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }

  showReport(report, which) {
    const assertions = report.assertions || [];
    const passedCount = assertions.filter((a) => a.passed === true).length;
    const failed = assertions.find((a) => a.passed === false);
    const head = h(
      'header',
      { class: 'report-head' },
      h('span', { class: `verdict-badge ${report.passed ? 'ok' : 'bad'}`, text: report.passed ? 'PASSED' : 'FAILED' }),
      h('span', { class: 'report-what', text: `${WHICH_NAMES[which]}` }),
      h('span', { class: 'muted', text: `${passedCount} of ${assertions.length} passed · ${report.seconds} s` }),
    );
    const items = assertions.map((a) => {
      const status = STATUS[String(a.passed)] || STATUS.null;
      const hintHere = a === failed && report.hint_html;
      return h(
        'li',
        { class: `assertion assertion-${status.key}`, 'data-testid': 'assertion', 'data-status': status.key },
        h('span', { class: `status status-${status.key}`, text: status.text }),
        h(
          'div',
          { class: 'assertion-body' },
          h('span', { class: 'assertion-name', text: a.name }),
          a.message ? h('pre', { class: 'assertion-message', 'data-testid': 'assertion-message', text: a.message }) : null,
          hintHere
            ? h(
                'div',
                { class: 'report-hint', 'data-testid': 'report-hint' },
                h('h4', { text: `Hint ${report.hint_number ?? ''}`.trim() }),
                setLessonHTML(h('div', { class: 'hint-body' }), report.hint_html),
              )
            : null,
        ),
      );
    });
    clear(this.el.report).append(
      h(
        'div',
        {
          class: `report ${report.passed ? 'report-pass' : 'report-fail'}`,
          'data-testid': 'check-report',
          'data-passed': String(Boolean(report.passed)),
          'data-which': which,
        },
        head,
        h('ol', { class: 'assertions' }, items),
        report.passed && which === 'solution'
          ? h('p', { class: 'muted small', text: 'The pods it made stay in the lab: look at them in the graph.' })
          : null,
      ),
    );
    this.el.results.hidden = false;
    const verdict = this.el.verdict;
    verdict.textContent = report.passed ? '✓ passed' : `✗ failed: ${failed ? failed.name : 'see the report'}`;
    verdict.className = `verdict ${report.passed ? 'ok' : 'bad'}`;
    verdict.title = 'Show the report';
    verdict.hidden = false;
    this.revealReport();
  }
}
