/* The segment rule editor: rows of conditions in AND/OR groups, written back to the
   hidden rules textarea as JSON, with a live count and preview from the server
   (SegmentAdmin.preview_view). Labels come from the page (segment-builder-config). */
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("segment-builder-config").textContent);
  const holder = document.querySelector(".segment-builder");
  const textarea = document.getElementById(holder.dataset.builderFor);
  const fields = Object.fromEntries(config.fields.map((f) => [f.name, f]));
  const T = config.text;
  let tree;
  try {
    tree = JSON.parse(textarea.value || '{"all": []}');
  } catch (e) {
    tree = { all: [] };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null) node.setAttribute(k, v);
    });
    children.flat().forEach((c) => node.append(c));
    return node;
  }

  function select(options, value, onchange, attrs) {
    const s = el("select", attrs || {}, options.map(([v, label]) => el("option", { value: v }, label)));
    if (Array.isArray(value)) {
      [...s.options].forEach((o) => (o.selected = value.includes(o.value)));
    } else if (value !== undefined) s.value = value;
    s.addEventListener("change", () => onchange(s));
    return s;
  }

  function groupKey(node) {
    return "any" in node ? "any" : "all";
  }

  function defaultCondition() {
    const f = config.fields[0];
    return { field: f.name, op: f.ops[0], value: defaultValue(f, f.ops[0]) };
  }

  function defaultValue(field, op) {
    if (op === "is_set" || op === "is_not_set") return undefined;
    const first = field.kind === "bool" ? true : field.choices ? (field.choices[0] || [""])[0] : field.low || 0;
    const one = field.kind === "money" ? String(first) : first;
    if (op === "in" || op === "not_in") return [one];
    if (op === "between") return [one, one];
    return one;
  }

  function valueInput(field, cond, changed) {
    const op = cond.op;
    if (op === "is_set" || op === "is_not_set") return [];
    const number = (v, set) =>
      el("input", {
        type: "number", value: v, step: field.kind === "money" ? "0.01" : "1",
        min: field.low, max: field.high, class: "vIntegerField",
        oninput: (e) => { set(field.kind === "money" ? e.target.value : parseInt(e.target.value, 10)); changed(); },
      });
    if (field.kind === "bool") {
      return select([["true", T.yes], ["false", T.no]], String(cond.value), (s) => { cond.value = s.value === "true"; changed(); });
    }
    if (op === "between") {
      return [number(cond.value[0], (v) => (cond.value[0] = v)), " ~ ", number(cond.value[1], (v) => (cond.value[1] = v))];
    }
    if (field.choices) {
      const multiple = op === "in" || op === "not_in";
      return select(field.choices, cond.value, (s) => {
        cond.value = multiple ? [...s.selectedOptions].map((o) => o.value) : s.value;
        changed();
      }, multiple ? { multiple: "multiple", size: Math.min(6, field.choices.length) } : {});
    }
    if (op === "in" || op === "not_in") {
      return el("input", {
        type: "text", value: cond.value.join(","), placeholder: "1,2,3",
        oninput: (e) => {
          cond.value = e.target.value.split(/[,，\s]+/).filter(Boolean).map((v) => (field.kind === "money" ? v : parseInt(v, 10)));
          changed();
        },
      });
    }
    return number(cond.value, (v) => (cond.value = v));
  }

  function renderCondition(cond, parent, index) {
    const field = fields[cond.field] || config.fields[0];
    const row = el("div", { class: "segment-condition" });
    const redraw = () => { row.replaceWith(renderCondition(cond, parent, index)); update(); };
    row.append(
      select(config.fields.map((f) => [f.name, f.label]), field.name, (s) => {
        const f = fields[s.value];
        cond.field = f.name;
        if (!f.ops.includes(cond.op)) cond.op = f.ops[0];
        cond.value = defaultValue(f, cond.op);
        redraw();
      }),
      select(field.ops.map((op) => [op, config.ops[op]]), cond.op, (s) => {
        cond.op = s.value;
        cond.value = defaultValue(field, cond.op);
        redraw();
      }),
      valueInput(field, cond, update),
      el("button", { type: "button", class: "button segment-remove", onclick: () => { parent.splice(index, 1); render(); } }, T.remove),
    );
    if (field.help) row.append(el("span", { class: "help" }, field.help));
    return row;
  }

  function renderGroup(node, parent, index) {
    const key = groupKey(node);
    const items = node[key];
    const box = el("div", { class: "segment-group" });
    const head = el("div", { class: "segment-group-head" },
      select([["all", T.all], ["any", T.any]], key, (s) => {
        const list = node[key];
        delete node[key];
        node[s.value] = list;
        render();
      }),
      el("button", { type: "button", class: "button", onclick: () => { items.push(defaultCondition()); render(); } }, T.add),
      el("button", { type: "button", class: "button", onclick: () => { items.push({ all: [defaultCondition()] }); render(); } }, T.add_group),
    );
    if (parent) head.append(el("button", { type: "button", class: "button segment-remove", onclick: () => { parent.splice(index, 1); render(); } }, T.remove));
    box.append(head);
    items.forEach((child, i) => box.append("all" in child || "any" in child ? renderGroup(child, items, i) : renderCondition(child, items, i)));
    return box;
  }

  function render() {
    holder.replaceChildren(renderGroup(tree, null, 0));
    update();
  }

  // --- the live count ---------------------------------------------------------------
  const panel = document.getElementById("segment-preview");
  let timer = null;
  let asked = 0;

  function update() {
    textarea.value = JSON.stringify(tree);
    if (!panel) return;
    clearTimeout(timer);
    timer = setTimeout(count, 350);
  }

  function count() {
    const mine = ++asked;
    panel.querySelector("[data-count-note]").textContent = T.counting;
    const body = new FormData();
    body.append("rules", textarea.value);
    body.append("csrfmiddlewaretoken", document.querySelector("[name=csrfmiddlewaretoken]").value);
    fetch(holder.dataset.previewUrl, { method: "POST", body, credentials: "same-origin" })
      .then((r) => r.json())
      .then((data) => { if (mine === asked) show(data); })
      .catch(() => { if (mine === asked) show({ error: T.failed }); });
  }

  function show(data) {
    const error = panel.querySelector("[data-error]");
    const table = panel.querySelector("[data-members]");
    error.hidden = !data.error;
    error.textContent = data.error || "";
    if (data.error) {
      panel.querySelector("[data-count]").textContent = "—";
      panel.querySelector("[data-count-note]").textContent = "";
      table.hidden = true;
      return;
    }
    panel.querySelector("[data-count]").textContent = data.count.toLocaleString();
    panel.querySelector("[data-count-note]").textContent = `${T.members} · ${data.as_of} · ${data.rule}`;
    const rows = data.members.map((m) =>
      el("tr", {}, el("td", {}, el("a", { href: m.url }, m.member_no)), el("td", {}, m.name), el("td", {}, m.phone), el("td", {}, m.tier), el("td", {}, m.store)));
    table.querySelector("tbody").replaceChildren(...rows);
    table.hidden = rows.length === 0;
    if (!rows.length) panel.querySelector("[data-count-note]").textContent += ` · ${T.empty}`;
  }

  render();
})();
