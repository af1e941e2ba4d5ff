// Pod actions: the "New pod" form and the delete button of a selected pod. Neither
// exists in read-only mode (the template leaves the form out; no button is made).
// The form also makes batches (count: pods NAME-1 ... NAME-N, all or none) and runs
// slow motion step by step (manual: the demo panel's Next lets each step go on).

import { createPod, deletePod, hasToken } from './api.js';
import { h } from './dom.js';

export class PodActions {
  constructor(root) {
    this.form = root.querySelector('#pod-form');
    this.errorEl = root.querySelector('#action-error');
    this.busyEl = root.querySelector('#pod-busy');
    this.tokenHint = root.querySelector('#token-hint');
    this.enabled = Boolean(this.form);
    if (!this.enabled) return;
    this.name = this.form.querySelector('#pod-name');
    this.node = this.form.querySelector('#pod-node');
    this.demo = this.form.querySelector('#pod-demo');
    this.delay = this.form.querySelector('#pod-demo-delay');
    this.addDemoFields();
    this.demo.addEventListener('change', () => {
      this.delay.disabled = !this.demo.checked || this.manual.checked;
    });
    this.manual.addEventListener('change', () => {
      this.delay.disabled = !this.demo.checked || this.manual.checked;
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.create();
    });
    if (this.tokenHint) this.tokenHint.hidden = hasToken();
  }

  /** "step by step" and "count", beside the slow-motion toggle. */
  addDemoFields() {
    this.manual = h('input', { type: 'checkbox', id: 'pod-manual', 'data-testid': 'pod-manual' });
    this.count = h('input', {
      type: 'number',
      id: 'pod-count',
      'data-testid': 'pod-count',
      min: '1',
      max: '250',
      step: '1',
      placeholder: '1',
      'aria-label': 'how many pods (NAME-1 … NAME-N)',
    });
    const extra = h(
      'span',
      { class: 'pod-extra' },
      h('label', { class: 'toggle', title: 'pycni waits after each step until Next is clicked' }, this.manual, ' step by step'),
      h('label', { class: 'pod-count', title: 'A batch: pods NAME-1 … NAME-N' }, '× ', this.count),
    );
    this.form.querySelector('button[type=submit]').before(extra);
  }

  /** Keep the node choices in step with the lab. */
  setNodes(nodes) {
    if (!this.enabled) return;
    const current = [...this.node.options].map((o) => o.value);
    if (current.join(',') === nodes.join(',')) return;
    const chosen = this.node.value;
    this.node.replaceChildren(...nodes.map((n) => h('option', { value: n, text: n })));
    if (nodes.includes(chosen)) this.node.value = chosen;
  }

  showError(message) {
    if (!this.errorEl) return;
    this.errorEl.textContent = message || '';
    this.errorEl.hidden = !message;
  }

  busy(message) {
    this.busyEl.textContent = message || '';
    this.busyEl.hidden = !message;
  }

  async create() {
    const name = this.name.value.trim();
    const body = { name, node: this.node.value };
    if (this.manual.checked) body.manual = true;
    else if (this.demo.checked) body.demo = Number(this.delay.value) || 1;
    const count = this.count.value.trim();
    if (count) body.count = Number(count);
    const what = count ? `${name}-1 … ${name}-${count}` : name;
    this.showError('');
    this.busy(`creating ${what}…`);
    const button = this.form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await createPod(body);
      this.name.value = '';
    } catch (e) {
      this.showError(`Could not create pod ${what}: ${e.message}`);
    } finally {
      button.disabled = false;
      this.busy('');
    }
  }

  /** A "Delete pod" button for the details panel, or null in read-only mode. */
  deleteButton(ns) {
    if (!this.enabled || !ns.pod) return null;
    const name = ns.pod.name;
    const button = h('button', {
      type: 'button',
      class: 'btn btn-danger',
      'data-role': 'action',
      'data-testid': 'pod-delete',
      text: `Delete pod ${name}`,
    });
    button.addEventListener('click', async () => {
      button.disabled = true;
      button.textContent = `deleting ${name}…`;
      this.showError('');
      try {
        await deletePod(name);
      } catch (e) {
        this.showError(`Could not delete pod ${name}: ${e.message}`);
        button.disabled = false;
        button.textContent = `Delete pod ${name}`;
      }
    });
    return h('div', { class: 'actions' }, button);
  }
}
