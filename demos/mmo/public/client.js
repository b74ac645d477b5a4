// The field demo's page: one WebSocket, one 1024x1024 canvas viewport, redrawn on
// requestAnimationFrame when the server sent something new. Drag, WASD or touch pan.
"use strict";
(() => {
  const COLORS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0"];
  const RADIUS = 25;
  const canvas = document.getElementById("field");
  const where = document.getElementById("where");
  const counts = document.getElementById("counts");
  const minimap = document.getElementById("minimap");
  const mini = minimap.getContext("2d");
  const ctx = canvas.getContext("2d");
  const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  // What tests (and the curious) can read: window.mmo.
  const state = window.mmo = {
    connected: false,
    frames: 0,
    updates: 0,
    viewX: 0,
    viewY: 0,
    side: 1024,
    worldSize: 20480,
    boxes: [],
    movers: [],
    dirty: false,
    // The minimap's: every box, the wanderer density grid, and the counts.
    worldBoxes: [],
    density: null,
    densitySide: 0,
    worldWanderers: 0,
    stepsPerSecond: 0,
    viewers: 0,
    overviews: 0,
    minimapDraws: 0,
    plural,
  };
  let socket;
  let wantX = null, wantY = null, sendQueued = false;

  function connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      state.connected = true;
      state.extensions = socket.extensions;
    };
    socket.onclose = () => {
      state.connected = false;
      counts.textContent = "disconnected; retrying";
      setTimeout(connect, 1000);
    };
    socket.onmessage = (event) => receive(new DataView(event.data));
  }

  function receive(v) {
    const type = v.getUint8(0);
    if (type === 1) {
      state.viewX = v.getInt32(1, true);
      state.viewY = v.getInt32(5, true);
      state.side = v.getUint32(9, true);
      const n = v.getUint32(13, true);
      const boxes = new Array(n);
      for (let i = 0, p = 17; i < n; i++, p += 13) {
        boxes[i] = [
          v.getInt32(p, true),
          v.getInt32(p + 4, true),
          v.getUint16(p + 8, true),
          v.getUint16(p + 10, true),
          v.getUint8(p + 12),
        ];
      }
      state.boxes = boxes;
      if (wantX === null) {
        wantX = state.viewX;
        wantY = state.viewY;
      }
    } else if (type === 2) {
      const n = v.getUint32(1, true);
      const movers = new Array(n);
      for (let i = 0, p = 5; i < n; i++, p += 13) {
        movers[i] = [
          v.getUint32(p, true),
          v.getInt32(p + 4, true),
          v.getInt32(p + 8, true),
          v.getUint8(p + 12),
        ];
      }
      state.movers = movers;
    } else if (type === 3) {
      state.worldSize = v.getUint32(1, true);
      const n = v.getUint32(5, true);
      const boxes = new Array(n);
      for (let i = 0, p = 9; i < n; i++, p += 13) {
        boxes[i] = [
          v.getInt32(p, true),
          v.getInt32(p + 4, true),
          v.getUint16(p + 8, true),
          v.getUint16(p + 10, true),
          v.getUint8(p + 12),
        ];
      }
      state.worldBoxes = boxes;
      boxLayer = null;
    } else if (type === 4) {
      state.worldWanderers = v.getUint32(1, true);
      state.stepsPerSecond = v.getUint32(5, true);
      state.viewers = v.getUint32(9, true);
      const side = v.getUint16(13, true);
      const density = new Uint16Array(side * side);
      for (let i = 0; i < density.length; i++) density[i] = v.getUint16(15 + i * 2, true);
      state.density = density;
      state.densitySide = side;
      state.overviews++;
    }
    state.updates++;
    if (!state.dirty) {
      state.dirty = true;
      requestAnimationFrame(draw);
    }
  }

  function draw() {
    state.dirty = false;
    // While a pan is on its way to the server, draw at the wanted place already.
    const ox = wantX ?? state.viewX, oy = wantY ?? state.viewY;
    ctx.fillStyle = "#f4f1ea";
    ctx.fillRect(0, 0, 1024, 1024);
    for (const [x, y, w, h, c] of state.boxes) {
      ctx.fillStyle = COLORS[c];
      ctx.fillRect(x - ox, y - oy, w, h);
      ctx.strokeStyle = "#0006";
      ctx.strokeRect(x - ox + 0.5, y - oy + 0.5, w - 1, h - 1);
    }
    for (const [, x, y, c] of state.movers) {
      ctx.beginPath();
      ctx.arc(x - ox, y - oy, RADIUS, 0, 2 * Math.PI);
      ctx.fillStyle = COLORS[c];
      ctx.fill();
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#111";
      ctx.stroke();
    }
    state.frames++;
    where.textContent = `view at (${ox}, ${oy}) of ${state.worldSize}`;
    counts.textContent = `${plural(state.worldWanderers, "wanderer")} in the world, ` +
      `${state.movers.length} in view, ${plural(state.boxes.length, "box", "boxes")} ` +
      `in view · ${state.stepsPerSecond} steps/s · ${plural(state.viewers, "viewer")}`;
    drawMinimap(ox, oy);
  }

  // The boxes drawn once on a canvas of their own, copied under each minimap frame.
  let boxLayer = null;
  function drawMinimap(ox, oy) {
    const side = minimap.width, k = side / state.worldSize;
    if (boxLayer === null) {
      boxLayer = document.createElement("canvas");
      boxLayer.width = boxLayer.height = side;
      const b = boxLayer.getContext("2d");
      b.fillStyle = "#f4f1ea";
      b.fillRect(0, 0, side, side);
      b.globalAlpha = 0.4; // pale, so that the wanderers' density stands out
      for (const [x, y, w, h, c] of state.worldBoxes) {
        b.fillStyle = COLORS[c];
        b.fillRect(x * k, y * k, Math.max(1, w * k), Math.max(1, h * k));
      }
    }
    mini.drawImage(boxLayer, 0, 0);
    // Wanderer density: darker where more wander, relative to the busiest cell.
    if (state.density !== null) {
      const g = state.densitySide, cell = side / g;
      let most = 1;
      for (const n of state.density) if (n > most) most = n;
      for (let i = 0; i < state.density.length; i++) {
        const n = state.density[i];
        if (n === 0) continue;
        mini.fillStyle = `rgba(17, 17, 17, ${(0.55 + 0.45 * n / most).toFixed(3)})`;
        mini.fillRect((i % g) * cell, Math.floor(i / g) * cell, Math.ceil(cell), Math.ceil(cell));
      }
    }
    // The viewport.
    mini.lineWidth = 2;
    mini.strokeStyle = "#ff0040";
    mini.strokeRect(ox * k, oy * k, Math.max(3, state.side * k), Math.max(3, state.side * k));
    state.minimapDraws++;
  }

  function panBy(dx, dy) {
    if (wantX === null) return;
    const max = state.worldSize - state.side;
    wantX = Math.round(Math.min(Math.max(wantX + dx, 0), max));
    wantY = Math.round(Math.min(Math.max(wantY + dy, 0), max));
    if (!sendQueued) {
      sendQueued = true;
      requestAnimationFrame(() => {
        sendQueued = false;
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({ x: wantX, y: wantY }));
        }
        if (!state.dirty) {
          state.dirty = true;
          draw();
        }
      });
    }
  }

  function panTo(x, y) {
    if (wantX === null) return;
    panBy(x - wantX, y - wantY);
  }

  // A click on the minimap centres the view there.
  minimap.addEventListener("pointerdown", (e) => {
    e.stopPropagation();
    const r = minimap.getBoundingClientRect();
    const x = (e.clientX - r.left) / r.width * state.worldSize;
    const y = (e.clientY - r.top) / r.height * state.worldSize;
    panTo(x - state.side / 2, y - state.side / 2);
  });

  // Canvas pixels per CSS pixel (the canvas is scaled to fit the window).
  const scale = () => 1024 / canvas.getBoundingClientRect().width;
  let dragging = null;
  canvas.addEventListener("pointerdown", (e) => {
    dragging = { x: e.clientX, y: e.clientY };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (e) => {
    if (dragging === null) return;
    const s = scale();
    panBy(-(e.clientX - dragging.x) * s, -(e.clientY - dragging.y) * s);
    dragging = { x: e.clientX, y: e.clientY };
  });
  const stop = () => {
    dragging = null;
    canvas.classList.remove("dragging");
  };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  const STEP = 64;
  window.addEventListener("keydown", (e) => {
    const k = e.key.toLowerCase();
    if (k === "w" || e.key === "ArrowUp") panBy(0, -STEP);
    else if (k === "s" || e.key === "ArrowDown") panBy(0, STEP);
    else if (k === "a" || e.key === "ArrowLeft") panBy(-STEP, 0);
    else if (k === "d" || e.key === "ArrowRight") panBy(STEP, 0);
  });

  fetch("/config").then((r) => r.json()).then((config) => {
    state.worldSize = config.size;
    state.side = config.view;
    connect();
  });
})();
