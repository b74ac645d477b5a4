/**
 * A body cut mid-download is a PeerLostError, never a short body taken as whole nor a
 * quiet end: the HTTP/1.1 client (Content-Length, chunked, a reset), the HTTP/2 client
 * (the connection closed, the stream reset, END_STREAM short of content-length), the
 * WebSocket client (the server gone without a close frame) and the FTP client (RETR cut).
 * Each server is a hostile fake on 127.0.0.1 that sends part of the answer and goes away.
 */
import assert from "node:assert/strict";
import {
  connectTo,
  listenOn,
  sleep,
  type Socket,
  SocketReader,
  spawn,
  withTimeout,
} from "../../mod.ts";
import { Event as ShrapnelEvent } from "../../core/sync/event.ts";
import { TimeoutError } from "../../core/errors.ts";
import { ConnectionResetError, EOFError, PeerLostError } from "../../net/errors.ts";
import {
  HttpClient,
  HttpProtocolError,
  HttpTimeoutError,
  shrapnelFetch,
} from "../../proto/http/mod.ts";
import {
  END_STREAM,
  FrameWriter,
  HEADERS,
  HpackEncoder,
  INTERNAL_ERROR,
  PREFACE,
  PROTOCOL_ERROR,
  readFrameHeader,
  StreamResetError,
} from "../../proto/http/h2/mod.ts";
import {
  acceptKey,
  CloseCode,
  connectWebSocket,
  encodeFrame,
  Opcode,
} from "../../proto/websocket/mod.ts";
import { FtpClient, FtpError } from "../../proto/ftp/mod.ts";
import { withFakePeer } from "../_servers.ts";
import { bytes, socketTest, text } from "./_backends.ts";

const HALF = new Uint8Array(50_000).fill(97);

/** Reads a request head (up to its blank line) from `conn`. */
async function readHead(conn: Socket): Promise<string> {
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const piece = await conn.recv(4096);
    if (piece.length === 0) break;
    head += text(piece);
  }
  return head;
}

function assertLost(error: unknown, client: string, operation: string): void {
  assert.ok(error instanceof PeerLostError, `not a PeerLostError: ${error}`);
  assert.equal(error.client, client);
  assert.equal(error.operation, operation);
}

async function downloadError(port: number, secure = false, connect?: HttpClient): Promise<unknown> {
  const client = connect ?? new HttpClient();
  try {
    const response = await client.request(`${secure ? "https" : "http"}://127.0.0.1:${port}/f`);
    assert.equal(response.status, 200);
    return await response.bytes().then(() => null, (e) => e);
  } finally {
    client.close();
  }
}

socketTest("HTTP/1.1: a Content-Length body cut short is a PeerLostError", async () => {
  await withFakePeer(async (conn) => {
    await readHead(conn);
    await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n"));
    await conn.send(HALF);
  }, async (port) => {
    const error = await downloadError(port);
    assertLost(error, "http", "GET");
    assert.ok(error instanceof HttpProtocolError); // as before
    assert.match((error as Error).message, /50000 bytes short/);
  });
});

socketTest("fetch: a body cut short errors the stream, and the connection is dropped", async () => {
  await withFakePeer(async (conn) => {
    await readHead(conn);
    await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n"));
    await conn.send(HALF);
  }, async (port) => {
    const client = new HttpClient();
    try {
      const url = `http://127.0.0.1:${port}/f`;
      const response = await shrapnelFetch(url, { shrapnelClient: client });
      const error = await response.arrayBuffer().then(() => null, (e) => e);
      assertLost(error, "http", "GET");
      assert.deepEqual(client.statistics()[`http://127.0.0.1:${port}`], { idle: 0, open: 0 });
    } finally {
      client.close();
    }
  });
});

socketTest("HTTP/1.1: a chunked body cut inside a chunk or between chunks", async () => {
  for (const tail of ["2000\r\nabc", "10\r\n0123456789abcdef\r\n", "10\r\n0123456789abcdef"]) {
    await withFakePeer(async (conn) => {
      await readHead(conn);
      await conn.send(bytes(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${tail}`));
    }, async (port) => {
      const error = await downloadError(port);
      assertLost(error, "http", "GET");
      assert.ok(error instanceof HttpProtocolError, tail);
    });
  }
});

socketTest("HTTP/1.1: a connection reset mid-body is a PeerLostError", async () => {
  await withFakePeer(async (conn) => {
    await conn.recv(1); // the rest of the request stays unread: the close is a reset
    await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n"));
    await conn.send(HALF);
  }, async (port) => {
    assertLost(await downloadError(port), "http", "GET");
  });
});

socketTest("HTTP/1.1: a body delimited by the close ends normally at the close", async () => {
  await withFakePeer(async (conn) => {
    await readHead(conn);
    await conn.send(bytes("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"));
    await conn.send(HALF);
  }, async (port) => {
    const client = new HttpClient();
    try {
      const response = await client.request(`http://127.0.0.1:${port}/`);
      assert.equal((await response.bytes()).length, HALF.length); // its end, by definition
    } finally {
      client.close();
    }
  });
});

/**
 * An HTTP/2 server that answers stream 1 with a 200 declaring 100000 bytes and 50000 of
 * them, then does `end` (closes, resets the stream, or ends it short).
 */
function h2Peer(end: (conn: Socket, out: FrameWriter) => Promise<void>) {
  return async (conn: Socket) => {
    const reader = new SocketReader(conn);
    for (let seen = 0; seen < PREFACE.length;) {
      if (!await reader.fill()) return;
      seen = reader.buffered;
    }
    reader.skip(PREFACE.length);
    const out = new FrameWriter();
    out.settings([]);
    out.settings([], true);
    await conn.send(out.take().slice());
    for (;;) { // the client's frames, up to its request's HEADERS
      while (reader.buffered < 9) if (!await reader.fill()) return;
      const h = readFrameHeader(reader.peek(), 0);
      while (reader.buffered < 9 + h.length) if (!await reader.fill()) return;
      reader.skip(9 + h.length);
      if (h.type === HEADERS) break;
    }
    const fields = new HpackEncoder().encode([":status", "200", "content-length", "100000"]);
    out.headers(1, fields, 0, 16384);
    for (let at = 0; at < HALF.length; at += 10_000) out.data(1, HALF.subarray(at, at + 10_000), 0);
    await conn.send(out.take().slice());
    await end(conn, out);
  };
}

/** A client whose connector says "h2" without TLS: the fake peer speaks plain HTTP/2. */
function h2Client(): HttpClient {
  return new HttpClient({
    connect: async (host, port) => {
      const socket = await connectTo(`${host}:${port}`);
      return Object.assign(socket, { handshake: () => Promise.resolve("h2") });
    },
  });
}

socketTest("HTTP/2: the connection closed mid-body is a PeerLostError", async () => {
  await withFakePeer(h2Peer(async () => {}), async (port) => {
    const error = await downloadError(port, true, h2Client());
    assertLost(error, "http", "GET");
    assert.ok(error instanceof StreamResetError);
    // A close, or a reset when our last frames were still unread by the peer.
    const cause = (error as Error).cause;
    assert.ok(cause instanceof EOFError || cause instanceof ConnectionResetError, String(cause));
  });
});

socketTest("HTTP/2: the stream reset by the server mid-body is a PeerLostError", async () => {
  await withFakePeer(
    h2Peer(async (conn, out) => {
      out.rstStream(1, INTERNAL_ERROR);
      await conn.send(out.take().slice());
      await conn.recv(4096); // the connection stays up
    }),
    async (port) => {
      const error = await downloadError(port, true, h2Client());
      assertLost(error, "http", "GET");
      assert.equal((error as StreamResetError).code, INTERNAL_ERROR);
    },
  );
});

socketTest("HTTP/2: END_STREAM short of the content-length is not a whole body", async () => {
  await withFakePeer(
    h2Peer(async (conn, out) => {
      out.data(1, new Uint8Array(0), END_STREAM);
      await conn.send(out.take().slice());
      await conn.recv(4096);
    }),
    async (port) => {
      const error = await downloadError(port, true, h2Client());
      assertLost(error, "http", "GET");
      assert.match((error as Error).message, /50000 bytes short of its content-length/);
    },
  );
});

/** A WebSocket server that accepts the handshake, sends `frames`, and goes away. */
function wsPeer(...frames: Uint8Array[]) {
  return async (conn: Socket) => {
    const head = await readHead(conn);
    const key = /sec-websocket-key: *(\S+)/i.exec(head)![1];
    await conn.send(bytes(
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
        `sec-websocket-accept: ${acceptKey(key)}\r\n\r\n`,
    ));
    for (const frame of frames) await conn.send(frame);
  };
}

socketTest("WebSocket client: a server gone without a close frame is a PeerLostError", async () => {
  const hello = encodeFrame(Opcode.text, bytes("hello"));
  const cut = encodeFrame(Opcode.binary, new Uint8Array(1000)).subarray(0, 500);
  for (const frames of [[hello], [hello, cut]]) {
    await withFakePeer(wsPeer(...frames), async (port) => {
      const ws = await connectWebSocket(`ws://127.0.0.1:${port}/`);
      assert.deepEqual(await ws.receive(), { type: "text", data: "hello" });
      const error = await ws.receive().then(() => null, (e) => e);
      assertLost(error, "websocket", "receive");
      assert.equal(ws.closeCode, CloseCode.abnormal);
      assert.equal(await ws.receive(), null); // said once; then closed
    });
  }
});

socketTest("WebSocket client: a close frame is still a normal end (null)", async () => {
  const close = encodeFrame(Opcode.close, new Uint8Array([0x03, 0xe8]));
  await withFakePeer(wsPeer(close), async (port) => {
    const ws = await connectWebSocket(`ws://127.0.0.1:${port}/`);
    assert.equal(await ws.receive(), null);
    assert.equal(ws.closeCode, CloseCode.normal);
  });
});

/**
 * An FTP server whose RETR sends half of the file on the data connection, then `end`s
 * (both connections closed, or a 426 on the control connection).
 */
function ftpPeer(end: (control: Socket) => Promise<void>) {
  return async (control: Socket) => {
    const data = listenOn("127.0.0.1:0");
    const dataPort = (data.localAddress() as { port: number }).port;
    const reader = new SocketReader(control);
    const answer = async (line: string) => await control.send(bytes(`${line}\r\n`));
    try {
      await answer("220 hello");
      for (;;) {
        const command = await reader.readLine(1024);
        if (command === null) return;
        const verb = command.split(" ")[0].toUpperCase();
        if (verb === "USER") await answer("331 password");
        else if (verb === "PASS") await answer("230 in");
        else if (verb === "TYPE") await answer("200 binary");
        else if (verb === "EPSV") await answer(`229 passive (|||${dataPort}|)`);
        else if (verb === "RETR") {
          const [conn] = await data.accept();
          await answer("150 sending");
          await conn.send(HALF);
          conn.close();
          await end(control);
          return;
        } else await answer("502 no");
      }
    } finally {
      data.close();
    }
  };
}

socketTest("FTP: a server gone mid-RETR is a PeerLostError (ftp, RETR)", async () => {
  await withFakePeer(ftpPeer(async () => {}), async (port) => {
    const ftp = await FtpClient.connect({ host: "127.0.0.1", port, user: "u", password: "p" });
    try {
      let received = 0;
      const error = await ftp.retrieve("f", (p) => {
        received += p.length;
      }).then(() => null, (e) => e);
      assertLost(error, "ftp", "RETR");
      assert.equal(received, HALF.length); // handed over, and said to be not the whole file
    } finally {
      await ftp.quit(); // a broken connection just closes
    }
  });
});

socketTest("FTP: a RETR the server reports aborted (426) is an FtpError", async () => {
  await withFakePeer(
    ftpPeer(async (control) => {
      await control.send(bytes("426 connection closed; transfer aborted\r\n"));
      await control.recv(4096); // QUIT
      await control.send(bytes("221 bye\r\n"));
    }),
    async (port) => {
      const ftp = await FtpClient.connect({ host: "127.0.0.1", port, user: "u", password: "p" });
      try {
        const error = await ftp.retrieveBytes("f").then(() => null, (e) => e);
        assert.ok(error instanceof FtpError && error.code === 426, String(error));
        assert.ok(!(error instanceof PeerLostError));
      } finally {
        await ftp.quit();
      }
    },
  );
});

socketTest(
  "HTTP/1.1 pipeline: the last body cut short drops its connection once (the pool's count stays right)",
  async () => {
    await withFakePeer(async (conn) => {
      await readHead(conn);
      await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n"));
      await conn.send(HALF);
    }, async (port) => {
      const client = new HttpClient();
      try {
        const url = `http://127.0.0.1:${port}/f`;
        const error = await client.pipeline([{ url }]).then(() => null, (e) => e);
        assertLost(error, "http", "GET");
        // One connection opened, one closed: a count below 0 lets the origin open more than
        // maxConnectionsPerOrigin.
        assert.deepEqual(client.statistics()[`http://127.0.0.1:${port}`], { idle: 0, open: 0 });
      } finally {
        client.close();
      }
    });
  },
);

socketTest(
  "HTTP/2 pool: a TLS handshake that fails leaves the origin usable (no latch held for good)",
  async () => {
    await withFakePeer(async (conn) => {
      await conn.recv(4096);
    }, async (port) => {
      let connects = 0;
      const client = new HttpClient({
        headTimeoutSeconds: 2,
        connect: async (host, p) => {
          connects++;
          const socket = await connectTo(`${host}:${p}`);
          // As tlsConnect's socket: the handshake runs (and fails) on the first call.
          return Object.assign(socket, {
            handshake: () => Promise.reject(new Error("invalid peer certificate")),
          });
        },
      });
      try {
        for (let i = 0; i < 2; i++) {
          const error = await client.request(`https://127.0.0.1:${port}/`).then(
            () => null,
            (e) => e,
          );
          // Not a head timeout spent waiting on the first connection's latch.
          assert.match(String(error), /invalid peer certificate/, `request ${i}`);
        }
        assert.equal(connects, 2);
      } finally {
        client.close();
      }
    });
  },
);

socketTest(
  "fetch: a signal aborted by another thread while a body read waits errors the read, and both threads go on",
  async () => {
    const rest = new ShrapnelEvent();
    await withFakePeer(async (conn) => {
      await readHead(conn);
      await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n0123456789"));
      await rest.wait();
      await conn.send(bytes("abcdefghij"));
      await conn.recv(4096);
    }, async (port) => {
      const client = new HttpClient();
      try {
        const controller = new AbortController();
        const reading = spawn(async () => {
          const url = `http://127.0.0.1:${port}/f`;
          const response = await shrapnelFetch(url, {
            shrapnelClient: client,
            signal: controller.signal,
          });
          const reader = response.body!.getReader();
          assert.equal((await reader.read()).value?.length, 10);
          return await reader.read().then(() => null, (e) => e); // waits for the rest
        });
        await sleep(0.2);
        // Aborted from a thread: the response's release must not become a blocking call of
        // that thread (left unawaited, it wedges the thread), nor read beside the waiting read.
        const aborter = spawn(async () => {
          controller.abort();
          await sleep(0.05);
          rest.set();
          await sleep(0.05);
          return "went on";
        });
        assert.equal(await withTimeout(3, () => aborter.join()), "went on");
        const error = await withTimeout(3, () => reading.join());
        assert.ok(error instanceof DOMException && error.name === "AbortError", String(error));
        await sleep(0.1);
        const stats = client.statistics()[`http://127.0.0.1:${port}`];
        assert.equal(stats.open, stats.idle, JSON.stringify(stats)); // nothing held
      } finally {
        client.close();
      }
    });
  },
);

socketTest(
  "fetch: a body cancelled by another thread while a read of it waits: no second reader on the connection",
  async () => {
    const rest = new ShrapnelEvent();
    await withFakePeer(async (conn) => {
      await readHead(conn);
      await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n0123456789"));
      await rest.wait();
      await conn.send(bytes("abcdefghij"));
      await conn.recv(4096);
    }, async (port) => {
      const client = new HttpClient();
      try {
        const url = `http://127.0.0.1:${port}/f`;
        const response = await shrapnelFetch(url, { shrapnelClient: client });
        const reader = response.body!.getReader();
        const reading = spawn(async () => {
          assert.equal((await reader.read()).value?.length, 10);
          return await reader.read().then((r) => r, (e) => e);
        });
        await sleep(0.2); // its pull waits on the connection
        const cancelled = await withTimeout(3, () => reader.cancel().then(() => null, (e) => e));
        assert.equal(cancelled, null);
        rest.set();
        assert.deepEqual(await withTimeout(3, () => reading.join()), {
          done: true,
          value: undefined,
        });
        await sleep(0.1);
        const stats = client.statistics()[`http://127.0.0.1:${port}`];
        assert.equal(stats.open, stats.idle, JSON.stringify(stats)); // nothing held
      } finally {
        client.close();
      }
    });
  },
);

socketTest(
  "HTTP/2: DATA past the content-length is a malformed response, not a longer whole body",
  async () => {
    await withFakePeer(
      h2Peer(async (conn, out) => {
        for (let at = 0; at < 60_000; at += 10_000) {
          out.data(1, HALF.subarray(0, 10_000), at + 10_000 === 60_000 ? END_STREAM : 0);
        }
        await conn.send(out.take().slice());
        await conn.recv(4096);
      }),
      async (port) => {
        const error = await downloadError(port, true, h2Client());
        assert.ok(error instanceof StreamResetError, String(error));
        assert.equal(error.code, PROTOCOL_ERROR);
        assert.ok(!(error instanceof PeerLostError)); // the server is there; its answer is bad
      },
    );
  },
);

socketTest(
  "HTTP/1.1: a server that answers early (413) and closes on the upload: the answer is the result, not a PeerLostError",
  async () => {
    await withFakePeer(async (conn) => {
      await readHead(conn);
      await conn.send(bytes(
        "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbig!",
      ));
    }, async (port) => {
      const client = new HttpClient();
      try {
        const url = `http://127.0.0.1:${port}/up`;
        const body = new Uint8Array(20 << 20); // far more than the socket buffers take
        const response = await client.request(url, { method: "POST", body });
        assert.equal(response.status, 413);
        assert.equal(await response.text(), "big!");
        assert.deepEqual(client.statistics()[`http://127.0.0.1:${port}`], { idle: 0, open: 0 });
      } finally {
        client.close();
      }
    });
  },
);

socketTest(
  "FTP: a transfer failed on our side (the sink threw) leaves the control connection in step",
  async () => {
    await withFakePeer(async (control) => {
      const data = listenOn("127.0.0.1:0");
      const dataPort = (data.getsockname() as { port: number }).port;
      const reader = new SocketReader(control);
      const answer = async (line: string) => await control.send(bytes(`${line}\r\n`));
      try {
        await answer("220 hello");
        for (;;) {
          const command = await reader.readLine(1024);
          if (command === null) return;
          const verb = command.split(" ")[0].toUpperCase();
          if (verb === "USER") await answer("331 password");
          else if (verb === "PASS") await answer("230 in");
          else if (verb === "TYPE") await answer("200 binary");
          else if (verb === "EPSV") await answer(`229 passive (|||${dataPort}|)`);
          else if (verb === "NOOP") await answer("200 noop");
          else if (verb === "RETR") {
            const [conn] = await data.accept();
            await answer("150 sending");
            await conn.send(HALF);
            conn.close();
            await answer("226 transfer complete");
          } else await answer("502 no");
        }
      } finally {
        data.close();
      }
    }, async (port) => {
      const ftp = await FtpClient.connect({ host: "127.0.0.1", port, user: "u", password: "p" });
      try {
        const refused = await ftp.retrieve("f", () => {
          throw new Error("disk full");
        }).then(() => null, (e) => e);
        assert.match(String(refused), /disk full/);
        await sleep(0.1); // the server's 226 for the transfer has come
        const noop = await ftp.command("NOOP");
        assert.deepEqual([noop.code, noop.text], [200, "noop"], "a reply out of step");
      } finally {
        await ftp.quit();
      }
    });
  },
);

socketTest(
  "HTTP/1.1: release() interrupted while it skips the rest of a body passes the interruption on",
  async () => {
    await withFakePeer(async (conn) => {
      await readHead(conn);
      await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n"));
      await conn.send(HALF);
      await conn.recv(4096); // then silence
    }, async (port) => {
      const client = new HttpClient();
      try {
        const response = await client.request(`http://127.0.0.1:${port}/f`);
        const error = await withTimeout(0.2, () => response.release()).then(() => null, (e) => e);
        assert.ok(error instanceof TimeoutError, `the interruption was swallowed: ${error}`);
        assert.deepEqual(client.statistics()[`http://127.0.0.1:${port}`], { idle: 0, open: 0 });
      } finally {
        client.close();
      }
    });
  },
);

socketTest(
  "HTTP/1.1 pipeline: a server that never answers meets the head deadline (no hang)",
  async () => {
    await withFakePeer(async (conn) => {
      await readHead(conn);
      await conn.recv(4096); // silence
    }, async (port) => {
      const client = new HttpClient({ headTimeoutSeconds: 0.3 });
      try {
        const url = `http://127.0.0.1:${port}/f`;
        const error = await withTimeout(3, () => client.pipeline([{ url }, { url }]))
          .then(() => null, (e) => e);
        assert.ok(error instanceof HttpTimeoutError, String(error));
        assert.equal(error.phase, "head");
        assert.deepEqual(client.statistics()[`http://127.0.0.1:${port}`], { idle: 0, open: 0 });
      } finally {
        client.close();
      }
    });
  },
);

socketTest("fetch: a body read first in one thread and then in another", async () => {
  await withFakePeer(async (conn) => {
    await readHead(conn);
    await conn.send(bytes("HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n0123456789"));
    await sleep(0.1);
    await conn.send(bytes("abcdefghij"));
    await conn.recv(4096);
  }, async (port) => {
    const client = new HttpClient();
    try {
      const url = `http://127.0.0.1:${port}/f`;
      const response = await shrapnelFetch(url, { shrapnelClient: client });
      const reader = response.body!.getReader();
      assert.equal(text((await reader.read()).value!), "0123456789"); // sniffed here
      const rest = spawn(async () => { // the rest read by a worker thread
        let all = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return all;
          all += text(value);
        }
      });
      assert.equal(await withTimeout(3, () => rest.join()), "abcdefghij");
    } finally {
      client.close();
    }
  });
});
