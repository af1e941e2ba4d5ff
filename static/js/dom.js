// Tiny DOM helpers. Text always goes in through textContent, never innerHTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** A table from a header row and rows of cells (strings or nodes). */
export function table(headers, rows, attrs = {}) {
  return h(
    'table',
    { class: 'data', ...attrs },
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { text: t })))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c ?? ''))))),
  );
}

/** Pretty-print JSON text when it is JSON, else return it as it is. */
export function prettyJSON(text) {
  if (!text) return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function shortId(id, n = 12) {
  return id && id.length > n ? `${id.slice(0, n)}…` : id || '';
}

// What Python-Markdown (fenced code, tables, codehilite) produces for our lesson files.
const LESSON_TAGS = new Set(
  'p br hr h1 h2 h3 h4 h5 h6 strong em b i code pre span div ul ol li blockquote a table thead tbody tr th td'.split(' '),
);

/**
 * Put lesson HTML rendered by the server from our own markdown files (a hint) into `el`.
 * Defence in depth: only the tags Markdown makes are kept, with no attribute but
 * `class` (and an http(s) or relative `href` on links); anything else becomes its text.
 */
export function setLessonHTML(el, html) {
  const template = document.createElement('template');
  template.innerHTML = html || '';
  const clean = (node) => {
    for (const child of [...node.childNodes]) {
      if (child.nodeType === Node.TEXT_NODE) continue;
      if (child.nodeType !== Node.ELEMENT_NODE || !LESSON_TAGS.has(child.localName)) {
        child.replaceWith(document.createTextNode(child.nodeType === Node.ELEMENT_NODE ? child.textContent : ''));
        continue;
      }
      for (const attr of [...child.attributes]) {
        const keep =
          attr.name === 'class' ||
          (attr.name === 'href' && child.localName === 'a' && /^(https?:|\/|#)/i.test(attr.value));
        if (!keep) child.removeAttribute(attr.name);
      }
      clean(child);
    }
  };
  clean(template.content);
  el.replaceChildren(template.content);
  return el;
}
