/** The FTP client against Debian's vsftpd on loopback. */
import { withServer } from "../../_servers.ts";
import assert from "node:assert/strict";
import { listenOn, SocketError, spawn, TimeoutError, withTimeout } from "../../../mod.ts";
import { FtpClient, FtpError } from "../../../proto/ftp/mod.ts";
import { bytes, text } from "../../net/_backends.ts";
import { startVsftpd, vsftpdAvailable } from "./_vsftpd.ts";

const servers = await withServer(
  "vsftpd",
  vsftpdAvailable(),
  "apt-get install vsftpd",
  startVsftpd,
);
const ftpTest = servers.test;

/** An upload in two pieces. */
async function* parts(): AsyncGenerator<Uint8Array> {
  yield bytes("first ");
  yield bytes("second");
}

for (const tls of [false, true]) {
  const mode = tls ? "explicit TLS" : "plain";
  ftpTest(`${mode}: list, retrieve as a stream, store, rename, delete`, async (s) => {
    const ftp = await FtpClient.connect({
      host: "127.0.0.1",
      port: s.port,
      tls,
      caCerts: [s.cert],
      tlsHostname: "localhost",
    });
    try {
      assert.match(await ftp.pwd(), /root$/); // the anonymous root (no chroot when unprivileged)
      assert.deepEqual((await ftp.list("pub")).map((n) => n.replace(/^pub\//, "")).sort(), [
        "big.bin",
        "hello.txt",
      ]);
      assert.equal(text(await ftp.retrieveBytes("pub/hello.txt")), "hello over ftp\n");
      let pieces = 0, total = 0;
      await ftp.retrieve("pub/big.bin", (p) => {
        pieces++;
        total += p.length;
      });
      assert.equal(total, 300_000);
      assert.equal(await ftp.size("pub/big.bin"), 300_000);
      const name = `upload/${tls ? "tls" : "plain"}.txt`;
      assert.equal(await ftp.store(name, parts()), 12);
      assert.equal(await Deno.readTextFile(`${s.root}/${name}`), "first second");
      await ftp.rename(name, `${name}.moved`);
      assert.equal(text(await ftp.retrieveBytes(`${name}.moved`)), "first second");
      await ftp.delete(`${name}.moved`);
      await assert.rejects(
        ftp.retrieveBytes("pub/nothing.txt"),
        (e: unknown) => e instanceof FtpError && e.code === 550,
      );
      assert.ok(pieces >= 1);
    } finally {
      await ftp.quit();
    }
  });
}

ftpTest("a refused login and a malformed server are FtpErrors, never hangs", async (s) => {
  await assert.rejects(
    FtpClient.connect({ host: "127.0.0.1", port: s.port, user: "nobody-here", password: "x" }),
    FtpError,
  );
  const fake = listenOn("127.0.0.1:0");
  const { port } = fake.localAddress() as { port: number };
  const t = spawn(async () => {
    const [conn] = await fake.accept();
    await conn.send(bytes("this is not ftp\r\n"));
    conn.close();
  });
  await assert.rejects(
    withTimeout(2, () => FtpClient.connect({ host: "127.0.0.1", port })),
    (e: unknown) => e instanceof FtpError && e.code === 0,
  );
  await t.join();
  fake.close();
});

ftpTest("a stalled command is interruptible", async () => {
  const fake = listenOn("127.0.0.1:0"); // says hello, then never answers
  const { port } = fake.localAddress() as { port: number };
  const t = spawn(async () => {
    const [conn] = await fake.accept();
    await conn.send(bytes("220 hi\r\n"));
    // The client gives up: its socket ends, cleanly or reset.
    for (let i = 0; i < 2; i++) {
      try {
        await conn.recv(100);
      } catch (e) {
        if (!(e instanceof SocketError)) throw e;
      }
    }
    conn.close();
  });
  await assert.rejects(
    withTimeout(0.2, () => FtpClient.connect({ host: "127.0.0.1", port })),
    TimeoutError,
  );
  fake.close();
  t.shutdown();
});

ftpTest("silent servers cost their deadlines: a reply, then a data connection", async () => {
  // A control connection that greets, logs in, offers a data port, starts the transfer and
  // then sends nothing on either connection.
  const fake = listenOn("127.0.0.1:0"), dataListener = listenOn("127.0.0.1:0");
  const { port } = fake.localAddress() as { port: number };
  const dataPort = (dataListener.localAddress() as { port: number }).port;
  const held: { close(): void }[] = [];
  const peer = spawn(async () => {
    for (let session = 0; session < 2; session++) {
      const [conn] = await fake.accept();
      held.push(conn);
      await conn.send(bytes("220 hi\r\n"));
      if (session === 0) continue; // the first session: the greeting, then silence
      for (let i = 0; i < 4; i++) {
        const line = text(await conn.recv(200));
        if (line.startsWith("USER")) await conn.send(bytes("230 in\r\n"));
        else if (line.startsWith("TYPE")) await conn.send(bytes("200 ok\r\n"));
        else if (line.startsWith("EPSV")) {
          await conn.send(bytes(`229 passive (|||${dataPort}|)\r\n`));
          const [data] = await dataListener.accept();
          held.push(data);
        } else if (line.startsWith("RETR")) await conn.send(bytes("150 here it comes\r\n"));
      }
    }
  });
  try {
    const t0 = performance.now();
    await assert.rejects(
      FtpClient.connect({ host: "127.0.0.1", port, replyTimeoutSeconds: 0.2 }),
      TimeoutError,
    );
    assert.ok(performance.now() - t0 < 3000);
    const ftp = await FtpClient.connect({ host: "127.0.0.1", port, dataIdleSeconds: 0.2 });
    const t1 = performance.now();
    await assert.rejects(ftp.retrieveBytes("never.bin"), TimeoutError);
    assert.ok(performance.now() - t1 < 3000);
  } finally {
    peer.shutdown();
    for (const c of held) c.close();
    fake.close();
    dataListener.close();
  }
});

servers.finish();
