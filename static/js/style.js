// The graph's stylesheet: colours per namespace kind, edges per kind (routes among
// them), what a filter or focus dims, and a larger variant for projectors
// (presentation mode). Level of detail by zoom: a label smaller than LOD_PX on screen
// is not drawn (a 500-pod lab, fitted, shows boxes, wires and the nodes' names).

import { IF_H, IF_W } from './layout.js';

export const KIND_COLOURS = {
  node: { line: '#2563eb', fill: '#eff6ff', text: '#1e40af' },
  pod: { line: '#059669', fill: '#ecfdf5', text: '#065f46' },
  group: { line: '#059669', fill: '#d1fae5', text: '#065f46' },
  underlay: { line: '#d97706', fill: '#fffbeb', text: '#92400e' },
  internet: { line: '#7c3aed', fill: '#f5f3ff', text: '#5b21b6' },
  host: { line: '#64748b', fill: '#f8fafc', text: '#334155' },
  other: { line: '#64748b', fill: '#f8fafc', text: '#334155' },
};
const VETH = '#334155';
const CABLE = '#ea580c';
const PORT = '#2563eb';
const SELECTED = '#e11d48';
const RELATED = '#f59e0b';
const ROUTE = '#0d9488';
const MASQ = '#7c3aed';
const HIT = '#f59e0b';
const HIGHLIGHT = '#c026d3'; // graph.highlight(): slow motion's touched objects
const LOD_PX = 6;
/** The packet tracer's colours: the request leg and the reply leg (also in cnilab.css). */
export const LEG_COLOURS = { request: '#e11d48', reply: '#0891b2' };
const SANS = 'system-ui, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", sans-serif';
const MONO = 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace';

export function graphStyle({ present = false } = {}) {
  const s = present ? 1.12 : 1;
  const px = (n) => `${Math.round(n * s)}px`;
  const perKind = Object.entries(KIND_COLOURS).flatMap(([kind, c]) => [
    {
      selector: `node[type = "namespace"][kind = "${kind}"]`,
      style: { 'border-color': c.line, 'background-color': c.fill, color: c.text },
    },
    {
      selector: `node[type = "interface"][nskind = "${kind}"]`,
      style: { 'border-color': c.line },
    },
  ]);
  return [
    {
      selector: 'node',
      style: {
        'font-family': SANS,
        'min-zoomed-font-size': LOD_PX,
        'text-wrap': 'wrap',
        label: 'data(label)',
      },
    },
    {
      selector: 'node[type = "labnode"]',
      style: {
        shape: 'round-rectangle',
        'background-color': '#f1f5f9',
        'background-opacity': 1,
        'border-color': '#94a3b8',
        'border-width': 2,
        padding: '22px',
        'text-valign': 'top',
        'text-halign': 'center',
        'text-margin-y': -6,
        'font-size': px(24),
        'font-weight': 'bold',
        color: '#0f172a',
        'corner-radius': 14,
      },
    },
    {
      selector: 'node[type = "namespace"]',
      style: {
        shape: 'round-rectangle',
        'border-width': 2,
        padding: '12px',
        'text-valign': 'top',
        'text-halign': 'center',
        'text-margin-y': -3,
        'font-size': px(17),
        'font-weight': 'bold',
        'corner-radius': 10,
        width: IF_W,
        height: IF_H,
      },
    },
    {
      selector: 'node[type = "namespace"][?error]',
      style: { 'border-style': 'dashed' },
    },
    {
      selector: 'node[type = "interface"]',
      style: {
        shape: 'round-rectangle',
        width: IF_W,
        height: IF_H,
        'background-color': '#ffffff',
        'border-width': present ? 3 : 2,
        'font-family': MONO,
        'font-size': px(16),
        color: '#0f172a',
        'text-valign': 'center',
        'text-halign': 'center',
        'text-max-width': `${IF_W - 4}px`,
        'corner-radius': 6,
      },
    },
    ...perKind,
    {
      selector: 'node[type = "interface"][kind = "bridge"]',
      style: {
        'background-color': '#dbeafe',
        'border-width': present ? 4 : 3,
        'font-weight': 'bold',
      },
    },
    {
      selector: 'node[type = "interface"][kind = "loopback"]',
      style: { 'background-color': '#f8fafc', 'border-style': 'dotted', color: '#475569' },
    },
    {
      selector: 'node[type = "interface"][?down]',
      style: {
        'border-color': '#dc2626',
        'border-style': 'dashed',
        'background-color': '#fef2f2',
        color: '#991b1b',
      },
    },
    {
      selector: 'node[type = "namespace"][kind = "group"]',
      style: {
        'text-valign': 'center',
        'text-margin-y': 0,
        'border-style': 'double',
        'border-width': 4,
        width: IF_W + 16,
        height: IF_H + 14,
        'font-size': px(12),
        'text-max-width': `${IF_W + 10}px`,
      },
    },
    {
      selector: 'node[?masq]',
      style: { 'border-color': MASQ, 'border-style': 'double', 'border-width': present ? 7 : 6 },
    },
    { selector: 'node.quiet', style: { display: 'none' } },
    {
      selector: 'edge',
      style: { 'curve-style': 'straight', width: present ? 5 : 3, 'line-color': VETH },
    },
    {
      selector: 'edge[kind = "veth"][?underlay]',
      style: { 'line-color': CABLE, width: present ? 7 : 4 },
    },
    {
      selector: 'edge[kind = "bridge-port"]',
      style: {
        'line-color': PORT,
        'line-style': 'dashed',
        'line-dash-pattern': [7, 5],
        width: present ? 3.5 : 2,
        'target-arrow-shape': 'triangle',
        'target-arrow-color': PORT,
        'arrow-scale': present ? 1 : 0.8,
      },
    },
    {
      selector: 'edge[kind = "group-port"]',
      style: {
        'line-color': PORT,
        width: present ? 6 : 4,
        'target-arrow-shape': 'triangle',
        'target-arrow-color': PORT,
        label: 'data(label)',
        'font-size': px(11),
        'text-background-color': '#ffffff',
        'text-background-opacity': 1,
        'min-zoomed-font-size': LOD_PX,
      },
    },
    {
      selector: 'edge[kind = "route"]',
      style: {
        'curve-style': 'unbundled-bezier',
        'control-point-distances': 70,
        'control-point-weights': 0.5,
        'line-color': ROUTE,
        width: present ? 4 : 3,
        'target-arrow-shape': 'triangle',
        'target-arrow-color': ROUTE,
        label: 'data(label)',
        'font-family': MONO,
        'font-size': px(15),
        color: '#134e4a',
        'text-background-color': '#f0fdfa',
        'text-background-opacity': 1,
        'text-background-padding': '3px',
        'text-border-color': ROUTE,
        'text-border-width': 1,
        'text-border-opacity': 1,
        'min-zoomed-font-size': LOD_PX,
        'z-index': 5,
      },
    },
    {
      selector: 'edge[kind = "default-route"]',
      style: {
        display: 'none',
        'curve-style': 'unbundled-bezier',
        'control-point-distances': 30,
        'line-color': ROUTE,
        'line-style': 'dotted',
        width: 2,
        'target-arrow-shape': 'triangle',
        'target-arrow-color': ROUTE,
      },
    },
    { selector: 'edge[kind = "default-route"].shown', style: { display: 'element' } },
    { selector: '.dim', style: { opacity: 0.15 } },
    {
      selector: 'node[type = "namespace"].hit',
      style: { 'border-color': HIT, 'border-width': present ? 5 : 4 },
    },
    {
      selector: 'node:selected',
      style: { 'border-color': SELECTED, 'border-width': present ? 5 : 4 },
    },
    {
      selector: 'node.related',
      style: { 'border-color': RELATED, 'border-width': present ? 5 : 4 },
    },
    {
      selector: 'edge.related',
      style: { 'line-color': RELATED, 'target-arrow-color': RELATED, 'z-index': 10 },
    },
    {
      selector: 'node.named',
      style: { 'border-color': '#dc2626', 'border-width': present ? 6 : 4, 'overlay-color': '#dc2626', 'overlay-opacity': 0.18, 'overlay-padding': 6 },
    },
    {
      selector: 'node.highlight',
      style: {
        'border-color': HIGHLIGHT,
        'border-width': present ? 6 : 4,
        'overlay-color': HIGHLIGHT,
        'overlay-opacity': 0.2,
        'overlay-padding': 6,
      },
    },
    {
      selector: 'edge.highlight',
      style: {
        'line-color': HIGHLIGHT,
        'target-arrow-color': HIGHLIGHT,
        width: present ? 7 : 5,
        'z-index': 15,
      },
    },
    {
      selector: '.fresh',
      style: { 'overlay-color': '#22c55e', 'overlay-opacity': 0.25, 'overlay-padding': 6 },
    },
    ...traceStyle(present, px),
  ];
}

/** The traced packet (a dot carrying its TTL), the hops it has passed and the current one. */
function traceStyle(present, px) {
  const { request: REQ, reply: REP } = LEG_COLOURS;
  return [
    {
      selector: 'node.trace-seen',
      style: { 'background-color': '#fff1f2' },
    },
    {
      selector: 'node.trace-seen.trace-reply',
      style: { 'background-color': '#ecfeff' },
    },
    {
      selector: 'edge.trace-path',
      style: {
        'line-color': REQ,
        'target-arrow-color': REQ,
        width: present ? 8 : 5,
        'z-index': 20,
      },
    },
    {
      selector: 'edge.trace-path-reply',
      style: { 'line-color': REP, 'target-arrow-color': REP },
    },
    {
      selector: 'node.trace-current',
      style: {
        'border-color': REQ,
        'border-width': present ? 6 : 5,
        'underlay-color': REQ,
        'underlay-opacity': 0.18,
        'underlay-padding': 9,
        'underlay-shape': 'round-rectangle',
      },
    },
    {
      selector: 'node.trace-current.trace-reply',
      style: { 'border-color': REP, 'underlay-color': REP },
    },
    {
      selector: 'node[type = "packet"]',
      style: {
        shape: 'ellipse',
        width: px(30),
        height: px(30),
        'background-color': REQ,
        'border-width': 3,
        'border-color': '#ffffff',
        label: 'data(label)',
        color: '#ffffff',
        'font-family': MONO,
        'font-size': px(12),
        'font-weight': 'bold',
        'text-valign': 'center',
        'text-halign': 'center',
        'underlay-color': REQ,
        'underlay-opacity': 0.3,
        'underlay-padding': 7,
        'underlay-shape': 'ellipse',
        'z-compound-depth': 'top',
        'z-index': 999,
        events: 'no',
      },
    },
    {
      selector: 'node[type = "packet"][leg = "reply"]',
      style: { 'background-color': REP, 'underlay-color': REP },
    },
  ];
}
