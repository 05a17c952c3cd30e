// dap console: the one script, served from dap itself (no inline script: the CSP forbids
// it). Everything works without it; it adds filter rows without a round trip and copy
// buttons.
"use strict";

function renumber(rows) {
  rows.querySelectorAll("[data-filter-row]").forEach(function (row, i) {
    row.querySelectorAll("select, input").forEach(function (field) {
      var prefix = field.name === "fc" ? "fc-" : field.name === "fo" ? "fo-" : "fv-";
      field.id = prefix + i;
      var label = field.parentElement.querySelector("label");
      if (label) {
        label.htmlFor = field.id;
        label.textContent = label.textContent.replace(/\d+$/, String(i + 1));
      }
    });
    var remove = row.querySelector("[data-remove-filter]");
    if (remove) {
      remove.textContent = remove.textContent.replace(/\d+$/, String(i + 1));
    }
  });
}

function wireRemove(rows, row) {
  var remove = row.querySelector("[data-remove-filter]");
  if (!remove) return;
  remove.hidden = false;
  remove.addEventListener("click", function () {
    var next = row.nextElementSibling || row.previousElementSibling;
    if (rows.querySelectorAll("[data-filter-row]").length > 1) {
      row.remove();
    } else {
      row.querySelectorAll("input").forEach(function (f) { f.value = ""; });
      row.querySelector("select").value = "";
    }
    renumber(rows);
    var focus = next && next.querySelector("select");
    if (focus) focus.focus();
  });
}

document.addEventListener("DOMContentLoaded", function () {
  var rows = document.querySelector("[data-filter-rows]");
  var add = document.querySelector("[data-add-filter]");
  if (rows && add) {
    rows.querySelectorAll("[data-filter-row]").forEach(function (row) { wireRemove(rows, row); });
    add.hidden = false;
    add.addEventListener("click", function () {
      var all = rows.querySelectorAll("[data-filter-row]");
      var copy = all[all.length - 1].cloneNode(true);
      copy.querySelectorAll("input").forEach(function (f) { f.value = ""; });
      copy.querySelector("select").value = "";
      rows.appendChild(copy);
      wireRemove(rows, copy);
      renumber(rows);
      copy.querySelector("select").focus();
    });
  }
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field) return;
      field.select();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(field.value).catch(function () {});
      }
    });
  });
});
