// The step's file in CodeMirror 6: its language, line numbers, search (Ctrl-F) and undo
// (basicSetup). Saving sends the version the file was loaded as; a file changed on disk
// since (the student's own editor) answers 409, and the editor says so and offers the
// disk's text or an explicit overwrite, never a silent one. Reset to the starter, and
// diffs against the starter or the version that last passed, are one button each.
// Without the token or on a read-only server it only shows the file.

import { EditorView, basicSetup } from 'codemirror';
import { EditorState } from '@codemirror/state';
import { keymap } from '@codemirror/view';
import { StreamLanguage } from '@codemirror/language';
import { python } from '@codemirror/lang-python';
import { json } from '@codemirror/lang-json';
import { toml } from '@codemirror/legacy-modes/mode/toml.js';
import { diffFile, getEditorFile, resetFile, saveFile } from './api.js';
import { h } from './dom.js';

const LANGUAGES = {
  python: () => python(),
  json: () => json(),
  toml: () => StreamLanguage.define(toml),
};

/** The lines of a unified diff, each coloured by its first character. */
export function diffView(text) {
  return h(
    'pre',
    { class: 'diff-text', 'data-testid': 'diff-text' },
    text
      .replace(/\n$/, '')
      .split('\n')
      .map((line) => {
        const kind = line.startsWith('@@') ? 'hunk' : { '+': 'add', '-': 'del' }[line[0]] || 'ctx';
        return h('span', { class: `diff-line diff-${kind}` }, `${line}\n`);
      }),
  );
}

export class Editor {
  /** host: the element to fill; step: the exercise number; canSave: token and not read-only. */
  constructor(host, step, { canSave, onStatus = () => {} }) {
    this.host = host;
    this.step = step;
    this.canSave = canSave;
    this.onStatus = onStatus;
    this.view = null;
    this.version = null; // the version on disk the buffer started from
    this.savedText = '';
    this.file = null;
  }

  /** What the tests can read. */
  get state() {
    return { version: this.version, dirty: this.dirty, conflict: Boolean(this.conflictBox) };
  }

  get text() {
    return this.view ? this.view.state.doc.toString() : '';
  }

  get dirty() {
    return this.view !== null && this.text !== this.savedText;
  }

  async load() {
    this.file = await getEditorFile(this.step);
    if (!this.file.exists) return this.file;
    this.show(this.file.text, this.file.version);
    return this.file;
  }

  show(text, version) {
    this.version = version;
    this.savedText = text;
    this.clearConflict();
    const language = (LANGUAGES[this.file.language] || (() => []))();
    const save = { key: 'Mod-s', preventDefault: true, run: () => (this.save(), true) };
    const state = EditorState.create({
      doc: text,
      extensions: [
        basicSetup,
        language,
        keymap.of(this.canSave ? [save] : []),
        EditorState.readOnly.of(!this.canSave),
        EditorView.updateListener.of((u) => u.docChanged && this.status()),
      ],
    });
    if (this.view) this.view.setState(state);
    else {
      this.host.replaceChildren();
      this.view = new EditorView({ state, parent: this.host });
      this.view.dom.dataset.testid = 'editor';
    }
    this.status();
  }

  status(message) {
    const text = message || (this.dirty ? 'modified: not saved' : 'saved');
    this.onStatus({ text, dirty: this.dirty, conflict: Boolean(this.conflictBox) });
  }

  /** Save over the version loaded; false (and the conflict shown) if it changed on disk. */
  async save({ overwrite = false } = {}) {
    if (!this.view || !this.canSave) return false;
    if (!this.dirty && !overwrite) return true;
    const text = this.text;
    const expected = overwrite && this.conflictBox ? this.conflictBox.version : this.version;
    try {
      const saved = await saveFile(this.step, text, expected);
      this.version = saved.version;
      this.savedText = text;
      this.clearConflict();
      this.status('saved');
      return true;
    } catch (e) {
      if (e.status === 409 && e.data && e.data.conflict) {
        this.showConflict(e.data);
        return false;
      }
      this.status(`not saved: ${e.message}`);
      throw e;
    }
  }

  showConflict(data) {
    this.clearConflict();
    const box = h(
      'div',
      { class: 'conflict', role: 'alert', 'data-testid': 'conflict' },
      h('strong', { text: 'Your file changed on disk since it was opened here. ' }),
      h('span', { text: 'Nothing was saved. ' }),
      h('button', {
        type: 'button',
        class: 'btn btn-small',
        'data-testid': 'conflict-load',
        text: 'Load the version on disk',
        onclick: () => this.show(data.disk ?? '', data.version),
      }),
      ' ',
      h('button', {
        type: 'button',
        class: 'btn btn-small btn-danger',
        'data-testid': 'conflict-overwrite',
        text: 'Overwrite it with mine',
        onclick: () => this.save({ overwrite: true }),
      }),
    );
    box.version = data.version;
    this.conflictBox = box;
    this.host.before(box);
    this.status('conflict: the file changed on disk');
  }

  clearConflict() {
    if (this.conflictBox) this.conflictBox.remove();
    this.conflictBox = null;
  }

  async reset() {
    const answer = await resetFile(this.step, this.version).catch((e) => {
      if (e.status === 409 && e.data && e.data.conflict) this.showConflict(e.data);
      else throw e;
      return null;
    });
    if (answer) await this.load();
  }

  /** A unified diff from the starter (or the last pass) to the buffer, as text. */
  async diff(against) {
    return diffFile(this.step, this.text, against);
  }
}
