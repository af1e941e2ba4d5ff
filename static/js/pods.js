// Pod actions: the "New pod" form and the delete button of a selected pod. Neither
// exists in read-only mode (the template leaves the form out; no button is made).

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
    this.demo.addEventListener('change', () => {
      this.delay.disabled = !this.demo.checked;
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.create();
    });
    if (this.tokenHint) this.tokenHint.hidden = hasToken();
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
    if (this.demo.checked) body.demo = Number(this.delay.value) || 1;
    this.showError('');
    this.busy(`creating ${name}…`);
    const button = this.form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await createPod(body);
      this.name.value = '';
    } catch (e) {
      this.showError(`Could not create pod ${name}: ${e.message}`);
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
