/**
 * Run by lazy_loop_test.ts in a fresh process, where the server's connection loop
 * (`_server_connection.ts`) is not loaded yet. Argument "serve": a connection handed to
 * `serve()` directly (no `listen`) loads it and is answered. Argument "close": a server
 * closed while its loop is still loading never accepts, and leaves no thread behind.
 * Prints one JSON line.
 */
import { HttpServer } from "../../../proto/http/mod.ts";
import { ConnectionRefusedError } from "../../../net/errors.ts";
import {
  allThreads,
  connectTo,
  current,
  listenOn,
  setBackend,
  sleep,
  spawn,
} from "../../../mod.ts";

setBackend(Deno.args[1] as "ffi" | "deno");

await spawn(async () => {
  const server = new HttpServer();
  server.route("GET", "/", (r) => r.respond(200, "served\n"));
  if (Deno.args[0] === "serve") {
    const listener = listenOn("127.0.0.1:0");
    const client = await connectTo(listener.localAddress());
    const [socket, peer] = await listener.accept();
    server.serve(socket, peer);
    await client.send(
      new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
    );
    let reply = "";
    for (;;) {
      const chunk = await client.recv(4096);
      if (chunk.length === 0) break;
      reply += new TextDecoder().decode(chunk);
    }
    client.close();
    listener.close();
    await server.close();
    console.log(JSON.stringify({ reply }));
  } else {
    const address = server.listen("127.0.0.1:0").localAddress();
    await server.close(); // before the loop's load completes: nothing accepts after it
    await sleep(0.5); // the load completes meanwhile
    let refused = false;
    try {
      (await connectTo(address)).close();
    } catch (e) {
      if (!(e instanceof ConnectionRefusedError)) throw e;
      refused = true;
    }
    const acceptor = server.statistics().acceptor;
    const left = allThreads().filter((t) => t !== current()).map((t) => t.name);
    console.log(JSON.stringify({ acceptor, refused, left }));
  }
}).join();
