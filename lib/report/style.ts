/**
 * The site's stylesheet, inlined into every page so that a page works on
 * its own from file:// (no CDN, no external file). Screen and print rules,
 * the highlight.js theme (GitHub-like) and the ANSI colour classes.
 *
 * @module
 */

const ANSI: [string, string, string][] = [
  ["black", "#3e424d", "#686b73"],
  ["red", "#c4221b", "#e75c58"],
  ["green", "#00a250", "#2ab26a"],
  ["yellow", "#b27d12", "#d1a42c"],
  ["blue", "#208ffb", "#4fa9ff"],
  ["magenta", "#d160c4", "#e08ad6"],
  ["cyan", "#60c6c8", "#4bc5d0"],
  ["white", "#c5c1b4", "#a1a6b2"],
];

const ansiCss = ANSI.map(([name, normal, bright]) =>
  `.ansi-${name}-fg{color:${normal}}.ansi-${name}-bg{background-color:${normal}}` +
  `.ansi-bright-${name}-fg{color:${bright}}.ansi-bright-${name}-bg{background-color:${bright}}`
).join("\n");

/** The stylesheet of every page. */
export const SITE_CSS: string = `
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da;
  --ok:#1a7f37;--bad:#cf222e;--code-bg:#f6f8fa;--err-bg:#fff1f0;color-scheme:light}
*{box-sizing:border-box}
html{font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  color:var(--fg);background:#fff}
body{margin:0}
a{color:var(--accent)}
header.site,footer.site{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;
  justify-content:space-between;padding:.6rem max(1rem,calc((100vw - 60rem)/2));
  border-bottom:1px solid var(--line);background:var(--soft);font-size:.9rem}
footer.site{border-top:1px solid var(--line);border-bottom:0;margin-top:3rem}
header.site .brand{font-weight:600;text-decoration:none;color:var(--fg)}
nav.pager{display:flex;gap:1rem}
nav.pager a,nav.pager span{white-space:nowrap}
nav.pager span{color:var(--muted)}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1,h2,h3,h4{line-height:1.25;margin:1.4em 0 .5em}
h1{font-size:1.9rem;border-bottom:1px solid var(--line);padding-bottom:.3em}
table{border-collapse:collapse;margin:.8em 0;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid var(--line);padding:.3em .7em;text-align:left;vertical-align:top}
th{background:var(--soft)}
code,pre,.prompt{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,monospace;
  font-size:.86rem}
:not(pre)>code{background:var(--code-bg);padding:.1em .3em;border-radius:4px}
pre{margin:0;padding:.7em .9em;overflow-x:auto;line-height:1.45;white-space:pre}
pre.code,.cell.code .input pre{background:var(--code-bg);border:1px solid var(--line);
  border-radius:6px}
.meta{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;color:var(--muted);font-size:.9rem;
  margin:.5rem 0 1.5rem}
.badge{display:inline-block;padding:0 .55em;border-radius:1em;font-size:.8rem;font-weight:600;
  color:#fff;background:var(--muted)}
.badge.ok{background:var(--ok)}.badge.failed{background:var(--bad)}
.failure{border:1px solid var(--bad);background:var(--err-bg);border-radius:6px;
  padding:.6rem .9rem;margin:1rem 0}
.failure pre{padding:.4rem 0 0;white-space:pre-wrap}
.cell{margin:1.1rem 0;position:relative}
.cell.code{display:grid;grid-template-columns:5.2rem minmax(0,1fr);column-gap:.5rem}
.cell.code>*{grid-column:2}
.prompt{grid-column:1;color:var(--muted);text-align:right;padding-top:.7em;font-size:.78rem;
  grid-row:1}
.outputs{margin-top:.35rem}
.outputs .prompt{padding-top:.35em}
.output{margin:.25rem 0;overflow-x:auto}
.output pre{padding:.35em .9em}
.output.stderr pre{background:#fff8e6}
.output.error pre{background:var(--err-bg);white-space:pre-wrap}
.output.failed-cell{outline:2px solid var(--bad);border-radius:6px}
.output img,.output svg{max-width:100%;height:auto}
.output.html table{font-size:.9rem}
.cell.raw pre{background:var(--soft)}
.cell-anchor{position:absolute;left:-1.2rem;top:.1rem;opacity:0;text-decoration:none;
  color:var(--muted)}
.cell:hover .cell-anchor{opacity:1}
ul.notebooks{list-style:none;padding:0}
ul.notebooks li{border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem;margin:.8rem 0}
ul.notebooks h2{margin:0 0 .3rem;font-size:1.2rem;border:0}
ul.notebooks p{margin:.3rem 0}
.summary{color:var(--muted);font-size:.9rem}
.hljs{color:#24292e}
.hljs-doctag,.hljs-keyword,.hljs-meta .hljs-keyword,.hljs-template-tag,.hljs-template-variable,
.hljs-type,.hljs-variable.language_{color:#d73a49}
.hljs-title,.hljs-title.class_,.hljs-title.class_.inherited__,.hljs-title.function_{color:#6f42c1}
.hljs-attr,.hljs-attribute,.hljs-literal,.hljs-meta,.hljs-number,.hljs-operator,.hljs-variable,
.hljs-selector-attr,.hljs-selector-class,.hljs-selector-id{color:#005cc5}
.hljs-regexp,.hljs-string,.hljs-meta .hljs-string{color:#032f62}
.hljs-built_in,.hljs-symbol{color:#e36209}
.hljs-comment,.hljs-code,.hljs-formula{color:#6a737d}
.hljs-name,.hljs-quote,.hljs-selector-tag,.hljs-selector-pseudo{color:#22863a}
.hljs-subst{color:#24292e}.hljs-section{color:#005cc5;font-weight:700}
.hljs-bullet{color:#735c0f}.hljs-emphasis{font-style:italic}.hljs-strong{font-weight:700}
.hljs-addition{color:#22863a;background-color:#f0fff4}
.hljs-deletion{color:#b31d28;background-color:#ffeef0}
${ansiCss}
.ansi-bold{font-weight:700}.ansi-dim{opacity:.7}.ansi-italic{font-style:italic}
.ansi-underline{text-decoration:underline}
@media (max-width:40rem){.cell.code{display:block}.prompt{display:none}}
@media print{
  html{font-size:11pt}
  header.site,footer.site,.cell-anchor{display:none}
  main{max-width:none;padding:0}
  a{color:inherit;text-decoration:underline}
  pre{white-space:pre-wrap;word-break:break-word;overflow:visible}
  .cell,.output,figure,img,svg,table{break-inside:avoid}
  h1,h2,h3{break-after:avoid}
  .cell.code{grid-template-columns:3.5rem minmax(0,1fr)}
  .output.html,.output.svg{overflow:visible}
}
`;
