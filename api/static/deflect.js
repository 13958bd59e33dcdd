// Case deflection: suggest customer-visible articles while the subject is typed.
(function () {
  const script = document.currentScript;
  const subject = document.getElementById("subject");
  const box = document.getElementById("suggestions");
  const list = document.getElementById("suggestion-list");
  const shown = document.getElementById("suggestions-shown");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const words = JSON.parse(script.dataset.words || "{}");  // relationship verbs and node labels in the page's language
  const names = JSON.parse(script.dataset.names || "{}");  // catalogue node names in the page's language, by id
  const seen = new Set();
  let timer = null;
  let last = "";

  // A graph path in words: "KC-110 screw compressor (product) ← applies to ← Overheating … (article)".
  function pathWords(p) {
    return p.nodes.map(function (n, i) {
      const node = (names[n.id] || n.name) + " (" + (words["label_" + n.label] || n.label) + ")";
      if (i === 0) return node;
      const e = p.edges[i - 1];
      const verb = words["verb_" + e.type] || e.type.toLowerCase().replace(/_/g, " ");
      return (e.start === p.nodes[i - 1].id ? " → " + verb + " → " : " ← " + verb + " ← ") + node;
    }).join("");
  }

  function item(s) {
    const li = document.createElement("li");
    li.className = "suggestion";
    li.dataset.id = s.id;
    const a = document.createElement("a");
    a.href = "/articles/" + encodeURIComponent(s.id) + "?q=" + encodeURIComponent(subject.value);
    a.target = "_blank";
    a.textContent = s.title;
    const why = document.createElement("small");
    const paths = s.evidence.paths.slice(0, 1).map(pathWords);
    why.textContent = " " + script.dataset.why + ": " + [s.evidence.matched_words.join(", ")].concat(paths).filter(Boolean).join(" · ");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "solved";
    button.textContent = script.dataset.solved;
    button.addEventListener("click", function () {
      fetch("/api/v1/knowledge/articles/" + encodeURIComponent(s.id) + "/deflection", {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify({subject: subject.value, solved: true}),
      }).then(function (r) {
        if (r.ok) {
          document.getElementById("new-case").hidden = true;
          document.getElementById("deflected").hidden = false;
        }
      });
    });
    li.append(a, why, document.createElement("br"), button);
    return li;
  }

  function suggest() {
    const text = subject.value.trim();
    if (text.length < 3 || text === last) return;
    last = text;
    fetch("/api/v1/knowledge/suggest?subject=" + encodeURIComponent(text), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : {suggestions: []}; })
      .then(function (answer) {
        list.replaceChildren();
        // Nothing on the subject (a weak match): suggest nothing rather than the least unrelated articles.
        const offered = answer.weak_match ? [] : answer.suggestions;
        offered.forEach(function (s) { seen.add(s.id); list.append(item(s)); });
        box.hidden = offered.length === 0;
        shown.value = Array.from(seen).join(",");
      });
  }

  subject.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(suggest, 250);
  });
})();
