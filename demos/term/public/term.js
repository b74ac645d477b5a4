// The web terminal's page: a login form, then lines typed go to the REPL over a TLS
// WebSocket and what it writes is shown. Enter sends, Up/Down walk the history, Tab
// completes names and properties, Ctrl-D ends.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const out = $("out"), input = $("in"), prompt = $("prompt");
  const history = [];
  let at = 0, socket = null, loggedIn = false;
  // Output arrives in pieces; a piece ending in a prompt (">>> " or "... ") is shown beside
  // the input line rather than in the output.
  function show(text) {
    const m = /(>>> |\.\.\. )$/.exec(text);
    if (m) {
      out.textContent += text.slice(0, -m[1].length);
      prompt.textContent = m[1];
    } else out.textContent += text;
    $("term").scrollTop = $("term").scrollHeight;
  }
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    socket = new WebSocket(`wss://${location.host}/repl`);
    socket.onopen = () => {
      socket.send($("user").value);
      socket.send($("password").value);
    };
    socket.onmessage = (event) => {
      const text = String(event.data);
      if (!loggedIn) {
        if (text.startsWith("\u0001ok")) {
          loggedIn = true;
          $("login").style.display = "none";
          $("term").style.display = "block";
          input.focus();
          window.termReady = true;
        } else {
          $("error").textContent = text.trim();
          socket.close();
        }
        return;
      }
      if (text.startsWith("\u0002")) { // the answer to a Tab
        const { line, candidates } = JSON.parse(text.slice(1));
        input.value = line;
        if (candidates.length > 0) show(`${prompt.textContent}${line}\n${candidates.join("  ")}\n`);
        window.completions = (window.completions ?? 0) + 1;
        return;
      }
      show(text);
    };
    socket.onclose = () => {
      if (loggedIn) show("\n[connection closed]\n");
    };
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      const line = input.value;
      show(prompt.textContent + line + "\n");
      prompt.textContent = "";
      if (line) history.push(line);
      at = history.length;
      input.value = "";
      socket.send(line);
    } else if (e.key === "ArrowUp" && at > 0) {
      input.value = history[--at];
    } else if (e.key === "ArrowDown" && at < history.length) {
      input.value = history[++at] ?? "";
    } else if (e.key === "Tab") {
      e.preventDefault(); // completion, not the next field
      socket.send(`\u0002${input.value}`);
    } else if (e.key === "d" && e.ctrlKey) {
      e.preventDefault();
      socket.send("\u0004");
    }
  });
})();
