// Which kernel objects a failed assertion names, so the graph can point at them: a
// pod or namespace by its label, an address by the interface holding it, an
// interface by its name (only inside a pod the text names, or when one alone has it:
// "eth0" alone would light up every pod).

const TOKEN = /[A-Za-z0-9][A-Za-z0-9_.@:-]*[A-Za-z0-9]|[A-Za-z0-9]/g;

/** The words of `text` that could name an object (quotes and punctuation stripped). */
export function words(text) {
  return new Set((String(text).match(TOKEN) || []).map((w) => w.replace(/:$/, '')));
}

/**
 * Ids of the elements `text` names. elements: [{id, type: "namespace"|"interface",
 * name, label, ns, addresses: ["10.244.0.5/24"]}].
 */
export function namedObjects(text, elements) {
  const said = words(text);
  const hits = new Set();
  const namespaces = elements.filter((e) => e.type === 'namespace');
  const interfaces = elements.filter((e) => e.type === 'interface');
  const namedNs = new Set();
  for (const ns of namespaces) {
    if ((ns.label && said.has(ns.label)) || said.has(ns.name)) {
      hits.add(ns.id);
      namedNs.add(ns.name);
    }
  }
  const byName = new Map();
  for (const i of interfaces) {
    if (!byName.has(i.name)) byName.set(i.name, []);
    byName.get(i.name).push(i);
    for (const address of i.addresses || []) {
      if (said.has(String(address).split('/')[0])) hits.add(i.id);
    }
  }
  for (const [name, found] of byName) {
    if (!said.has(name)) continue;
    const inNamed = found.filter((i) => namedNs.has(i.ns));
    const chosen = inNamed.length ? inNamed : found.length === 1 ? found : [];
    for (const i of chosen) hits.add(i.id);
  }
  return [...hits];
}

/**
 * The elements namedObjects reads, from the graph's node data: names and namespaces
 * from the ids (ids.js: "ns:<netns>", "if:<netns>:<ifname>"), the address from the label.
 */
export function elementsFromGraph(datas) {
  return datas.map((d) => {
    const lines = String(d.label ?? '').split('\n');
    if (d.type === 'interface') {
      const [, ns, ...name] = d.id.split(':');
      return { id: d.id, type: 'interface', ns, name: name.join(':').split(' ')[0], addresses: lines.slice(1) };
    }
    if (d.type === 'namespace') return { id: d.id, type: 'namespace', name: d.id.slice(3), label: lines[0] };
    return { id: d.id, type: d.type };
  });
}
