// One step of the course: progress across the steps, the hints unlocked so far, the
// student's file in the editor (editor.js; "Start this step" copies the starter), and
// Check, streamed: each assertion shows as it runs, the failing one with a button for
// the next rung of its hint and the kernel objects it names lit on the graph. The file
// is saved before every Check. Instructors can check the starter or the reference
// solution instead. Read-only, or without the token, the page only shows the file.

import {
  getCheckWhere,
  getExercise,
  getExerciseFile,
  getExercises,
  hasToken,
  startExercise,
  streamCheck,
  unlockHint,
} from './api.js';
import { clear, h, setLessonHTML } from './dom.js';
import { Editor, diffView } from './editor.js';
import { elementsFromGraph, namedObjects } from './objects.js';

const WHICH_NAMES = { workspace: 'your file', starter: 'the starter', solution: 'the reference solution' };
const STATUS = {
  true: { key: 'pass', text: 'PASS' },
  false: { key: 'fail', text: 'FAIL' },
  null: { key: 'not-run', text: 'NOT RUN' },
};
const RUNNING = { key: 'running', text: 'RUNNING' };

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
  /** graph: the page's Graph, for lighting up what a failed assertion names. */
  constructor(app, { graph = null } = {}) {
    this.app = app;
    this.graph = graph;
    this.number = Number(app.dataset.exercise);
    this.readOnly = app.dataset.readOnly === 'true';
    this.hintsTotal = Number(app.dataset.hints) || 0;
    this.canEdit = !this.readOnly && hasToken();
    this.editor = null;
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
      where: $('check-where'),
      tokenHint: $('token-hint'),
      tools: $('editor-tools'),
      editorStatus: $('editor-status'),
      diff: $('diff'),
      progressBar: $('progress-bar'),
      sources: $('sources'),
    };
    this.checking = false;
    this.lastReport = null;
    if (this.el.hintBtn) this.el.hintBtn.addEventListener('click', () => this.showHint());
    if (this.el.check) this.el.check.addEventListener('click', () => this.check());
    if (this.el.reload) this.el.reload.addEventListener('click', () => this.reloadFile());
    if (this.el.verdict) this.el.verdict.addEventListener('click', () => this.revealReport());
    if (this.el.tokenHint) this.el.tokenHint.hidden = hasToken();
    if (this.el.tools) {
      const on = (id, fn) => document.getElementById(id).addEventListener('click', fn);
      on('editor-save', () => this.editor && this.editor.save().catch((e) => this.showError(e.message)));
      on('editor-reset', () => this.resetFile());
      on('diff-starter', () => this.showDiff('starter'));
      on('diff-passed', () => this.showDiff('passed'));
    }
  }

  /** What the tests can read: window.cnilab.course.state */
  get state() {
    return {
      checking: this.checking,
      report: this.lastReport,
      editor: this.editor ? this.editor.state : null,
    };
  }

  load() {
    this.loadProgress();
    this.loadDetail();
    this.loadFile();
    this.loadWhere();
  }

  /** Where Check runs (the embedded lab, or one inside node1 on the Vagrant lab). */
  async loadWhere() {
    if (!this.el.where || !hasToken()) return;
    try {
      this.showWhere(await getCheckWhere(this.number));
    } catch {
      // no lab yet: Check says so
    }
  }

  showWhere(place) {
    this.el.where.textContent = place.vms ? `${place.text}. ${place.vms}` : place.text;
    this.el.where.dataset.kind = place.kind;
    this.el.where.hidden = false;
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
    if (this.el.progressBar) {
      this.el.progressBar.max = listing.exercises.length;
      this.el.progressBar.value = done;
    }
  }

  // -- hints ----------------------------------------------------------------------------

  async loadDetail() {
    try {
      const detail = await getExercise(this.number);
      this.showHints(detail.hints_html || []);
      this.el.passed.hidden = !detail.passed;
      this.showSources(detail.sources || []);
    } catch (e) {
      if (this.el.hints) this.el.hints.replaceChildren(h('li', { class: 'error', text: e.message }));
    }
  }

  /** Which earlier steps' files are the student's own, and which the reference's. */
  showSources(sources) {
    if (!this.el.sources || !sources.length) return;
    const name = (s) => `${s.number} ${s.slug}`;
    const own = sources.filter((s) => s.own).map(name);
    const ref = sources.filter((s) => !s.own).map(name);
    const parts = [];
    if (own.length) parts.push(`your own files from earlier steps: ${own.join(', ')}`);
    if (ref.length) parts.push(`from the reference: ${ref.join(', ')}`);
    this.el.sources.textContent = `Builds on ${parts.join('; ')}.`;
    this.el.sources.hidden = false;
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
    if (file.exists && this.canEdit) {
      await this.openEditor();
      return;
    }
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

  /** Read the file from disk again (after an edit elsewhere); unsaved edits are asked about. */
  async reloadFile() {
    if (!this.editor) return this.loadFile();
    if (this.editor.dirty && !window.confirm('Drop your unsaved edits and load the file from disk?')) return null;
    return this.editor.load().catch((e) => this.showError(`Could not read your file: ${e.message}`));
  }

  async openEditor() {
    const host = h('div', { class: 'editor-host' });
    this.el.file.replaceChildren(host);
    this.editor = new Editor(host, this.number, {
      canSave: this.canEdit,
      onStatus: (status) => {
        if (!this.el.editorStatus) return;
        this.el.editorStatus.textContent = status.text;
        this.el.editorStatus.dataset.state = status.conflict ? 'conflict' : status.dirty ? 'dirty' : 'saved';
      },
    });
    try {
      const file = await this.editor.load();
      if (this.el.tools) this.el.tools.hidden = false;
      document.getElementById('diff-passed').disabled = !file.has_passed;
    } catch (e) {
      this.el.file.replaceChildren(h('p', { class: 'error', text: `Could not open your file: ${e.message}` }));
    }
  }

  async resetFile() {
    if (!this.editor) return;
    if (!window.confirm('Replace your file with the starter? (Undo in the editor brings it back.)')) return;
    try {
      const before = this.editor.text;
      await this.editor.reset();
      if (before !== this.editor.text) this.editor.status('reset to the starter');
    } catch (e) {
      this.showError(`Could not reset your file: ${e.message}`);
    }
  }

  async showDiff(against) {
    if (!this.editor) return;
    const names = { starter: 'the starter', passed: 'the version that last passed' };
    try {
      const answer = await this.editor.diff(against);
      const body = !answer.exists
        ? h('p', { class: 'muted', text: 'No version of this file has passed yet.' })
        : answer.diff
          ? diffView(answer.diff)
          : h('p', { class: 'muted', text: `Your file is the same as ${names[against]}.` });
      this.el.diff.replaceChildren(
        h(
          'div',
          { class: 'diff-head' },
          h('strong', { text: `Your file against ${names[against]}` }),
          h('button', { type: 'button', class: 'btn btn-ghost btn-small', text: 'Close', onclick: () => (this.el.diff.hidden = true) }),
        ),
        body,
      );
      this.el.diff.dataset.against = against;
      this.el.diff.hidden = false;
    } catch (e) {
      this.showError(`Could not diff your file: ${e.message}`);
    }
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
    this.app.dataset.checking = 'true';
    this.lighten([]);
    try {
      const body = { which };
      if (which === 'workspace' && this.editor && this.editor.view) {
        this.el.busy.textContent = 'saving your file…';
        this.el.busy.hidden = false;
        if (!(await this.editor.save())) {
          this.showError('Not checked: your file changed on disk. Load that version, or overwrite it, then Check.');
          return;
        }
        body.version = this.editor.version;
      }
      this.el.busy.textContent = `checking ${what} in the lab…`;
      this.el.busy.hidden = false;
      const live = [];
      const last = await streamCheck(this.number, body, (event) => {
        if (event.event === 'where') this.showWhere(event);
        if (event.event === 'prepared') this.el.busy.textContent = `${event.text}; checking ${what}…`;
        if (event.event !== 'assertion') return;
        live[event.index] = event;
        this.showLive(live, which);
      });
      if (last.event === 'error') throw new Error(last.error);
      this.lastReport = { ...last, which };
      this.showReport(last, which);
      if (which === 'workspace') {
        if (!this.editor) this.loadFile();
        if (last.passed) {
          this.loadProgress();
          const passedBtn = document.getElementById('diff-passed');
          if (passedBtn) passedBtn.disabled = false;
        }
      }
    } catch (e) {
      this.lastReport = null;
      if (e.status === 409 && e.data && e.data.conflict && this.editor) this.editor.showConflict(e.data);
      this.showError(`Could not check ${what}: ${e.message}`);
    } finally {
      this.checking = false;
      delete this.app.dataset.checking;
      this.el.check.disabled = false;
      this.el.which.disabled = false;
      this.el.busy.hidden = true;
    }
  }

  /** The assertions heard so far: each one as it starts (running) and as it ends. */
  showLive(live, which) {
    const items = live.filter(Boolean).map((a) => this.assertionItem(a, a.passed === null ? RUNNING : STATUS[String(a.passed)], null));
    clear(this.el.report).append(
      h(
        'div',
        { class: 'report report-live', 'data-testid': 'check-live', 'data-which': which },
        h('header', { class: 'report-head' }, h('span', { class: 'verdict-badge', text: 'CHECKING' }), h('span', { class: 'report-what', text: WHICH_NAMES[which] })),
        h('ol', { class: 'assertions' }, items),
      ),
    );
    this.el.results.hidden = false;
  }

  assertionItem(a, status, hintButton) {
    return h(
      'li',
      { class: `assertion assertion-${status.key}`, 'data-testid': 'assertion', 'data-status': status.key },
      h('span', { class: `status status-${status.key}`, text: status.text }),
      h(
        'div',
        { class: 'assertion-body' },
        h('span', { class: 'assertion-name', text: a.name }),
        a.message ? h('pre', { class: 'assertion-message', 'data-testid': 'assertion-message', text: a.message }) : null,
        hintButton,
      ),
    );
  }

  /** The next rung of hint `number`, shown under the failed assertion. */
  async climbHint(number, box, button) {
    button.disabled = true;
    try {
      const answer = await unlockHint(this.number, number);
      const rung = (answer.ladder || []).find((x) => x.number === number);
      box.replaceChildren(
        h('h4', { text: `Hint ${number}${rung && rung.title ? `: ${rung.title}` : ''}` }),
        setLessonHTML(h('div', { class: 'hint-body' }), rung ? rung.html : ''),
      );
      box.hidden = false;
      this.showHints(answer.hints_html || []);
      const more = rung && rung.shown < rung.rungs;
      button.disabled = !more;
      button.textContent = more ? `Show more of hint ${number} (${rung.shown + 1} of ${rung.rungs})` : `All of hint ${number} shown`;
    } catch (e) {
      button.disabled = false;
      this.showError(`Could not show a hint: ${e.message}`);
    }
  }

  /** Light up on the graph the objects a failed assertion names. */
  lighten(ids) {
    if (!this.graph) return;
    const cy = this.graph.cy;
    cy.elements('.named').removeClass('named');
    for (const id of ids) cy.getElementById(id).addClass('named');
    this.app.dataset.named = ids.join(' ');
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
      let hint = null;
      if (a === failed && a.hint && !this.readOnly) {
        const box = h('div', { class: 'report-hint', 'data-testid': 'report-hint', hidden: true });
        const button = h('button', {
          type: 'button',
          class: 'btn btn-small',
          'data-role': 'action',
          'data-testid': 'report-hint-button',
          text: `Show hint ${a.hint}${report.hint_title ? `: ${report.hint_title}` : ''}`,
          onclick: () => this.climbHint(a.hint, box, button),
        });
        hint = h('div', { class: 'report-hint-wrap' }, button, box);
      }
      return this.assertionItem(a, status, hint);
    });
    if (failed && this.graph) {
      const elements = elementsFromGraph(this.graph.cy.nodes().map((n) => n.data()));
      this.lighten(namedObjects(`${failed.name} ${failed.message}`, elements));
    }
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
