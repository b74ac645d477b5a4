/** The node:stream Duplex adapter, as npm clients use it. */
import assert from "node:assert/strict";
import { listenOn, SocketDuplex, socketPair, spawn, withTimeout } from "../../mod.ts";
import { bytes, socketTest, text } from "./_backends.ts";

function collect(stream: SocketDuplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    stream.on("data", (chunk: Uint8Array) => got += text(chunk));
    stream.on("end", () => resolve(got));
    stream.on("error", reject);
  });
}

socketTest("a Duplex over a socket reads and writes like net.Socket", async () => {
  const [a, b] = await socketPair();
  const duplex = new SocketDuplex(a, { allowHalfOpen: true });
  const received = collect(duplex);
  await b.send(bytes("from socket"));
  b.shutdown("write");
  assert.equal(await withTimeout(2, () => received), "from socket");
  await new Promise<void>((resolve) => duplex.end(bytes("from duplex"), resolve));
  let got = "";
  for (;;) {
    const chunk = await withTimeout(2, () => b.recv(100));
    if (chunk.length === 0) break;
    got += text(chunk);
  }
  assert.equal(got, "from duplex");
  duplex.destroy();
  b.close();
});

socketTest("like net.Socket, the peer's end ends and closes the Duplex", async () => {
  const [a, b] = await socketPair();
  const duplex = new SocketDuplex(a);
  const closed = new Promise<void>((resolve) => duplex.on("close", resolve));
  duplex.resume();
  b.shutdown("write");
  await withTimeout(2, () => closed);
  assert.equal(a.closed, true);
  b.close();
});

socketTest("Duplex.connect connects, emits connect, and reports refused as error", async () => {
  const server = listenOn("127.0.0.1:0");
  const { port } = server.localAddress() as { port: number };
  const duplex = new SocketDuplex();
  const connected = new Promise<void>((resolve) => duplex.connect(port, "127.0.0.1", resolve));
  const [conn] = await withTimeout(2, () => server.accept());
  await withTimeout(2, () => connected);
  assert.equal(duplex.remotePort, port);
  duplex.write(bytes("hi"));
  assert.equal(text(await withTimeout(2, () => conn.recvExact(2))), "hi");
  duplex.destroy();
  conn.close();
  server.close();
  const refused = new SocketDuplex();
  const error = await new Promise((resolve) => {
    refused.on("error", resolve);
    refused.connect(port, "127.0.0.1");
  });
  assert.match(String(error), /ECONNREFUSED/);
  await spawn(() => {}).join();
});
