"""JavaScript run in the page by `dom` (kept in a Python module so it ships in the wheel)."""

ID_ATTR = "data-agentgym-id"

ELEMENT_TREE_JS = r"""
(opts) => {
  const ATTR = 'data-agentgym-id';
  const textIds = opts.textIds, maxName = opts.maxName, maxText = opts.maxText;
  let next = window.__agentgymNextId || 1;
  const lines = [], elements = [];
  const vw = window.innerWidth, vh = window.innerHeight;
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'TITLE', 'IFRAME', 'OBJECT', 'EMBED']);
  const ROLES = new Set(['button', 'link', 'checkbox', 'radio', 'tab', 'menuitem', 'menuitemcheckbox',
    'menuitemradio', 'option', 'textbox', 'searchbox', 'combobox', 'listbox', 'switch', 'slider',
    'spinbutton', 'treeitem', 'gridcell']);
  const CONTAINERS = {FORM: 'form', UL: 'list', OL: 'list', TABLE: 'table', DIALOG: 'dialog', NAV: 'navigation', FIELDSET: 'group'};
  const INTERACTIVE = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [contenteditable=""], ' +
    '[contenteditable=true], [onclick], [tabindex]:not([tabindex="-1"]), ' +
    [...ROLES].map(r => '[role=' + r + ']').join(', ');
  const clean = s => (s || '').replace(/\s+/g, ' ').trim();
  const clip = (s, n) => s.length > n ? s.slice(0, n - 1) + '\u2026' : s;
  const q = s => JSON.stringify(s);
  const idOf = el => {
    let id = el.getAttribute(ATTR);
    if (!id) { id = String(next++); el.setAttribute(ATTR, id); }
    return id;
  };
  const shown = el => {
    if (el.getAttribute('aria-hidden') === 'true') return false;
    if (el.checkVisibility) return el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
    const s = getComputedStyle(el);
    return s.display !== 'none' && s.visibility !== 'hidden' && s.opacity !== '0';
  };
  const hasBox = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const record = (el, id, role, name) => {
    const r = el.getBoundingClientRect();
    elements.push({id: Number(id), role, name, tag: el.tagName.toLowerCase(), x: r.x, y: r.y, width: r.width,
      height: r.height, in_viewport: r.right > 0 && r.bottom > 0 && r.x < vw && r.y < vh});
  };
  const roleOf = el => {
    const aria = el.getAttribute('role');
    if (aria && ROLES.has(aria)) return aria;
    switch (el.tagName) {
      case 'A': return el.hasAttribute('href') ? 'link' : (el.hasAttribute('onclick') ? 'link' : null);
      case 'BUTTON': case 'SUMMARY': return 'button';
      case 'SELECT': return el.multiple ? 'listbox' : 'combobox';
      case 'TEXTAREA': return 'textbox';
      case 'INPUT': {
        const t = (el.getAttribute('type') || 'text').toLowerCase();
        if (t === 'hidden') return null;
        if (['button', 'submit', 'reset', 'image'].includes(t)) return 'button';
        if (t === 'checkbox' || t === 'radio') return t;
        if (t === 'range') return 'slider';
        if (t === 'number') return 'spinbutton';
        if (t === 'search') return 'searchbox';
        if (t === 'file') return 'filepicker';
        return 'textbox';
      }
    }
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return 'textbox';
    if (el.hasAttribute('onclick') || (el.hasAttribute('tabindex') && el.tabIndex >= 0)) return 'clickable';
    return null;
  };
  const isField = el => ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName);
  const nameOf = (el, role) => {
    let n = clean(el.getAttribute('aria-label'));
    if (n) return n;
    const by = el.getAttribute('aria-labelledby');
    if (by) {
      n = clean(by.split(/\s+/).map(i => { const e = document.getElementById(i); return e ? e.innerText || e.textContent : ''; }).join(' '));
      if (n) return n;
    }
    if (isField(el)) {
      if (el.labels && el.labels.length) {
        n = clean([...el.labels].map(l => l.innerText).join(' '));
        if (n) return n;
      }
      if (role === 'button') return clean(el.value) || clean(el.getAttribute('alt')) || (el.type === 'submit' ? 'Submit' : '');
      return clean(el.getAttribute('placeholder')) || clean(el.getAttribute('title')) || '';
    }
    n = clean(el.innerText);
    if (!n) {
      const img = el.querySelector('img[alt]');
      n = clean(el.getAttribute('title')) || (img ? clean(img.getAttribute('alt')) : '');
    }
    return n;
  };
  const states = (el, role) => {
    let s = '';
    if (role === 'textbox' || role === 'searchbox' || role === 'spinbutton' || role === 'slider') {
      const v = isField(el) ? el.value : el.innerText;
      s += ' value=' + q(clip(v || '', maxText));
    } else if (role === 'combobox' && el.tagName === 'SELECT') {
      const o = el.options[el.selectedIndex];
      s += ' value=' + q(o ? clean(o.text) : '');
    }
    if (role === 'checkbox' || role === 'radio' || role === 'switch' || role === 'menuitemcheckbox' || role === 'menuitemradio') {
      if (isField(el) ? el.checked : el.getAttribute('aria-checked') === 'true') s += ' checked';
    }
    if ((role === 'option' || role === 'tab') && el.getAttribute('aria-selected') === 'true') s += ' selected';
    const exp = el.getAttribute('aria-expanded');
    if (exp !== null) s += exp === 'true' ? ' expanded' : ' collapsed';
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') s += ' disabled';
    if (document.activeElement === el && el !== document.body) s += ' focused';
    return s;
  };
  const pad = d => '  '.repeat(d);
  const emitText = (owner, raw, depth) => {
    const t = clean(raw);
    if (!t) return;
    if (textIds) {
      const id = idOf(owner);
      lines.push(pad(depth) + '[' + id + '] text ' + q(clip(t, maxText)));
      record(owner, id, 'text', clip(t, maxText));
    } else {
      lines.push(pad(depth) + clip(t, maxText));
    }
  };
  const isInline = el => {
    const d = getComputedStyle(el).display;
    return (d === 'inline' || d === 'contents') && !roleOf(el) && !el.querySelector(INTERACTIVE) &&
      !CONTAINERS[el.tagName] && el.tagName !== 'IMG' && el.tagName !== 'BR' && !(el.tagName === 'LABEL' && el.control);
  };
  const emitElement = (el, depth, noText) => {
    if (SKIP.has(el.tagName) || !shown(el)) return;
    const role = roleOf(el);
    if (role) {
      if (!hasBox(el)) return;
      const id = idOf(el), name = clip(nameOf(el, role), maxName);
      lines.push(pad(depth) + '[' + id + '] ' + role + ' ' + q(name) + states(el, role));
      record(el, id, role, name);
      if (el.tagName === 'SELECT') {
        for (const o of el.options) lines.push(pad(depth + 1) + 'option ' + q(clip(clean(o.text), maxName)) + (o.selected ? ' selected' : ''));
      } else if (el.querySelector(INTERACTIVE)) {
        walk(el, depth + 1, role !== 'listbox' && role !== 'clickable');
      }
      return;
    }
    if (noText) { walk(el, depth, true); return; }
    if (/^H[1-6]$/.test(el.tagName) && !el.querySelector(INTERACTIVE)) {
      const name = clip(clean(el.innerText), maxName);
      if (name && hasBox(el)) {
        const id = idOf(el);
        lines.push(pad(depth) + '[' + id + '] heading ' + q(name));
        record(el, id, 'heading', name);
      }
      return;
    }
    if (el.tagName === 'IMG') {
      const alt = clean(el.getAttribute('alt') || el.getAttribute('title'));
      if (alt && hasBox(el)) {
        const id = idOf(el), name = clip(alt, maxName);
        lines.push(pad(depth) + '[' + id + '] img ' + q(name));
        record(el, id, 'img', name);
      }
      return;
    }
    if (el.tagName === 'LABEL' && el.control) { walk(el, depth, true); return; }
    if (el.tagName === 'TR' && !el.querySelector(INTERACTIVE)) {
      const cells = [...el.children].filter(shown).map(c => clean(c.innerText)).filter(Boolean);
      if (cells.length) emitText(el, cells.join(' | '), depth);
      return;
    }
    let kind = CONTAINERS[el.tagName];
    const aria = el.getAttribute('role');
    if (aria === 'dialog' || aria === 'alertdialog' || aria === 'list' || aria === 'navigation' || aria === 'form') kind = aria;
    if (kind) {
      let name = clean(el.getAttribute('aria-label'));
      if (!name && el.tagName === 'FIELDSET') { const lg = el.querySelector('legend'); name = lg ? clean(lg.innerText) : ''; }
      lines.push(pad(depth) + kind + (name ? ' ' + q(clip(name, maxName)) : ''));
      walk(el, depth + 1, false);
      return;
    }
    walk(el, depth, false);
  };
  const walk = (el, depth, noText) => {
    let run = '';
    for (const c of el.childNodes) {
      if (c.nodeType === 3) { if (!noText) run += c.nodeValue; continue; }
      if (c.nodeType !== 1) continue;
      if (c.tagName === 'BR') { run += ' '; continue; }
      if (!noText && !SKIP.has(c.tagName) && isInline(c)) {
        if (shown(c)) run += c.innerText;
        continue;
      }
      if (run.trim()) emitText(el, run, depth);
      run = '';
      emitElement(c, depth, noText);
    }
    if (run.trim()) emitText(el, run, depth);
  };
  if (document.body) walk(document.body, 0, false);
  window.__agentgymNextId = next;
  return {lines, elements, url: location.href, title: document.title,
    scroll: [window.scrollX, window.scrollY], viewport: [vw, vh]};
}
"""

MARKS_JS = r"""
(marks) => {
  const old = document.getElementById('__agentgym_marks');
  if (old) old.remove();
  const layer = document.createElement('div');
  layer.id = '__agentgym_marks';
  layer.style.cssText = 'position:fixed;left:0;top:0;width:100vw;height:100vh;pointer-events:none;z-index:2147483647;';
  const colors = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#008080', '#9a6324', '#800000'];
  marks.forEach((m, i) => {
    const el = document.querySelector('[data-agentgym-id="' + m.id + '"]');
    const r = el ? el.getBoundingClientRect() : {x: m.x, y: m.y, width: m.width, height: m.height};
    if (r.width <= 0 || r.height <= 0) return;
    const c = colors[i % colors.length];
    const box = document.createElement('div');
    box.style.cssText = `position:fixed;left:${r.x}px;top:${r.y}px;width:${r.width}px;height:${r.height}px;` +
      `border:2px solid ${c};box-sizing:border-box;`;
    const label = document.createElement('div');
    label.textContent = String(m.id);
    const top = r.y >= 14 ? r.y - 14 : r.y;
    label.style.cssText = `position:fixed;left:${Math.max(0, r.x)}px;top:${top}px;background:${c};color:#fff;` +
      'font:bold 11px/14px monospace;padding:0 2px;';
    layer.appendChild(box);
    layer.appendChild(label);
  });
  document.documentElement.appendChild(layer);
}
"""

REMOVE_MARKS_JS = "() => { const l = document.getElementById('__agentgym_marks'); if (l) l.remove(); }"
