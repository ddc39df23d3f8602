/* gru_lib parameter explorer: parameter counts from a table of per-layer closed forms.
 *
 * The table is gru_lib.widgets.formula_table(): for each model and bias convention,
 * one layer and direction with n units on m inputs has n2*n*n + nm*n*m + n*n
 * parameters. Layer l > 0 of a stack reads the previous layer's D*n outputs
 * (D = 2 when bidirectional), and each direction has its own parameters.
 * This file only declares functions; each explorer fragment calls gruLibExplorer.
 */
function gruLibCount(table, model, convention, n, m, layers, bidirectional) {
  var k = table[model][convention];
  var N = BigInt(n), M = BigInt(m), D = bidirectional ? 2n : 1n;
  function layer(inp) {
    return BigInt(k.n2) * N * N + BigInt(k.nm) * N * inp + BigInt(k.n) * N;
  }
  var total = layer(M) + BigInt(layers - 1) * layer(D * N);
  return D * total;
}

function gruLibGroup(x) {
  return x.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/* Bind the controls of one explorer fragment (its root element) to its count. The
 * table comes from the fragment's <script type="application/json"> data island and
 * the limits from the number fields' own max attributes. */
function gruLibExplorer(root) {
  if (!root || root.dataset.bound) return;
  root.dataset.bound = "1";
  var table = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  function el(name) { return root.querySelector('[data-testid="pc-' + name + '"]'); }
  var model = el("model"), conv = el("convention"), nIn = el("n"), mIn = el("m"),
      layers = el("layers"), bidir = el("bidirectional"), count = el("count"),
      formula = root.querySelector(".gru-pc-formula"), note = root.querySelector(".gru-pc-note");
  var maxSize = Number(nIn.max), maxLayers = Number(layers.max);
  function whole(input, lo, hi) {
    var s = input.value.trim();
    if (!/^\d+$/.test(s)) return null;
    var v = Number(s);
    return (v >= lo && v <= hi) ? v : null;
  }
  function update() {
    var n = whole(nIn, 1, maxSize), m = whole(mIn, 1, maxSize), L = whole(layers, 1, maxLayers);
    var bad = [];
    if (n === null) bad.push("n");
    if (m === null) bad.push("m");
    if (L === null) bad.push("layers");
    var k = table[model.value][conv.value];
    formula.textContent = k.formula + "  =  " + k.expanded;
    if (bad.length) {
      count.textContent = "";
      note.textContent = "Enter whole numbers: n and m from 1 to " + gruLibGroup(maxSize) +
        ", layers from 1 to " + maxLayers + " (check " + bad.join(", ") + ").";
      return;
    }
    var total = gruLibCount(table, model.value, conv.value, n, m, L, bidir.checked);
    count.textContent = gruLibGroup(total);
    var ref = gruLibCount(table, "gru0", conv.value, n, m, L, bidir.checked);
    if (model.value === "gru0") {
      note.textContent = "the full GRU in this convention";
    } else {
      var diff = ref - total, pct = Number(diff * 10000n / ref) / 100;
      note.textContent = (diff >= 0n ? gruLibGroup(diff) + " fewer" : gruLibGroup(-diff) + " more") +
        " than GRU0 (" + gruLibGroup(ref) + "): " + Math.abs(pct).toFixed(2) + "% " +
        (diff >= 0n ? "saved" : "added");
    }
  }
  [model, conv, nIn, mIn, layers, bidir].forEach(function (c) {
    c.addEventListener("input", update);
    c.addEventListener("change", update);
  });
  update();
}
