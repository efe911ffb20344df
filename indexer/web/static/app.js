// Cocoon explorer: sortable tables. Every page works without this script; it only lets a table be
// re-sorted by clicking a column header (numbers by their exact data-v value, text by its text).
"use strict";
(function () {
  function cellValue(row, i, type) {
    var cell = row.cells[i];
    if (!cell) return type === "num" ? -Infinity : "";
    var v = cell.getAttribute("data-v");
    if (type === "num") {
      var s = v !== null ? v : cell.textContent.replace(/[^0-9.\-]/g, "");
      // Values are decimal strings that may exceed 2^53 (nanoTON): compare by length, then text.
      return s;
    }
    return (v !== null ? v : cell.textContent).trim().toLowerCase();
  }
  function compareNum(a, b) {
    var na = a.charAt(0) === "-", nb = b.charAt(0) === "-";
    if (na !== nb) return na ? -1 : 1;
    var sign = na ? -1 : 1;
    if (na) { a = a.slice(1); b = b.slice(1); }
    var ia = a.split(".")[0], ib = b.split(".")[0];
    if (ia.length !== ib.length) return sign * (ia.length - ib.length);
    return sign * (a < b ? -1 : a > b ? 1 : 0);
  }
  function sortBy(table, th, i) {
    var type = th.getAttribute("data-type") || "text";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > 1; });
    rows.sort(function (ra, rb) {
      var a = cellValue(ra, i, type), b = cellValue(rb, i, type);
      var c = type === "num" ? compareNum(a, b) : (a < b ? -1 : a > b ? 1 : 0);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    if (!table.tHead) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.classList.add("sort");
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th, i); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, th, i); });
    });
  });
})();
