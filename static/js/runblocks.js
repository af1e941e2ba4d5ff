// "What to run" blocks get a Run button on each command: it types the command into the
// page's terminal. Comments and blank lines are shown, not run.

import { h } from './dom.js';

/** The commands of a shell block: its lines, less blank ones and whole-line comments. */
export function commandsOf(text) {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}

/** The code blocks under each "What to run" heading of the lesson. */
function runBlocks(lesson) {
  const blocks = [];
  for (const heading of lesson.querySelectorAll('h2, h3')) {
    if (!/what to run/i.test(heading.textContent)) continue;
    for (let el = heading.nextElementSibling; el && !/^H[1-3]$/.test(el.tagName); el = el.nextElementSibling) {
      if (el.matches('.codehilite, pre')) blocks.push(el);
    }
  }
  return blocks;
}

/** Replace each block by rows, one per line, commands with a Run button. */
export function addRunButtons(lesson, run) {
  for (const block of runBlocks(lesson)) {
    const lines = block.textContent.replace(/\n$/, '').split('\n');
    const rows = lines.map((line) => {
      const runnable = commandsOf(line).length === 1;
      return h(
        'div',
        { class: runnable ? 'run-line' : 'run-line run-comment', 'data-testid': runnable ? 'run-line' : null },
        h('code', { text: line || ' ' }),
        runnable
          ? h('button', {
              type: 'button',
              class: 'btn btn-small run-btn',
              'data-testid': 'run-button',
              title: 'Type this into the terminal',
              text: '▶ Run',
              onclick: () => run(line.trim()),
            })
          : null,
      );
    });
    block.replaceWith(h('div', { class: 'run-block', 'data-testid': 'run-block' }, ...rows));
  }
}
