import { HttpServer } from "/work/wt/h12-http/proto/http/mod.ts";
import { spawn } from "/work/wt/h12-http/mod.ts";
await spawn(async () => {
  const s = new HttpServer();
  s.route("GET", "/", (r) => r.respond(200, "hello\n"));
  s.listen("127.0.0.1:0");
  const port = (s.address as { port: number }).port;
  for (const req of ["\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"]) {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    await c.write(new TextEncoder().encode(req));
    await new Promise((r) => setTimeout(r, 100));
    const b = new Uint8Array(4096); const n = await c.read(b);
    console.log(JSON.stringify(req), "=>", JSON.stringify(new TextDecoder().decode(b.subarray(0, n!))));
    c.close();
  }
  await s.close();
}).join();
