/**
 * The backdoor's REPL, over any line transport: JavaScript evaluated inside the running
 * process, each session with its own variables, results shown with `Deno.inspect`.
 *
 * @module
 */

import { Interrupted, Shutdown } from "../../core/errors.ts";
import { allThreads, threadById, threadDump } from "../../core/thread.ts";

/** Lines in, text out: what a REPL session runs over (a socket, an SSH channel...). */
export interface LineIO {
  /** The next line without its end, or null at the end of input. Interruption point. */
  readLine(): Promise<string | null>;
  /** Writes text. Interruption point. */
  write(text: string): Promise<void>;
}

/** Options of a REPL session. */
export interface ReplOptions {
  /** Names every session sees (in addition to the helpers and the globals). */
  globals?: Record<string, unknown>;
  /** Printed when the session starts. */
  welcome?: string;
  /** The prompt (">>> "); "... " continues a multi-line input. */
  prompt?: string;
  /** Line ending written ("\n"; SSH terminals want "\r\n"). */
  newline?: string;
}

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor as new (
  ...args: string[]
) => (scope: unknown) => Promise<unknown>;

/**
 * Makes top-level declarations persist between inputs: `const x = 1` becomes `x = 1`
 * (stored in the session's variables); so do `function f` and `class C`. Only lines that
 * start at column 0 are top level (a REPL's inputs rarely indent their declarations).
 */
export function rewriteDeclarations(code: string): string {
  return code
    .replace(/^(?:let|const|var)\s+([A-Za-z_$][\w$]*)\s*=/gm, "$1 =")
    .replace(/^((?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\()/gm, "$2 = $1")
    .replace(/^class\s+([A-Za-z_$][\w$]*)/gm, "$1 = class $1");
}

/**
 * Whether an input is unfinished: brackets still open, or inside a template literal or a
 * block comment (then the REPL asks for more lines).
 */
export function unfinished(code: string): boolean {
  let depth = 0;
  let quote = "";
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (quote !== "") {
      if (c === "\\") i++;
      else if (c === quote) quote = "";
      else if (c === "\n" && quote !== "`") quote = ""; // an unclosed string: an error, not more
      continue;
    }
    if (c === "/" && code[i + 1] === "/") {
      const end = code.indexOf("\n", i);
      if (end < 0) break;
      i = end;
    } else if (c === "/" && code[i + 1] === "*") {
      const end = code.indexOf("*/", i + 2);
      if (end < 0) return true;
      i = end + 1;
    } else if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
  }
  return depth > 0 || quote === "`";
}

/** Compiles an input as an expression if it is one, else as statements. */
function compile(code: string): (scope: unknown) => Promise<unknown> {
  const body = rewriteDeclarations(code);
  // A declaration shows nothing (as in Node's REPL), though it runs as an assignment.
  const declaration = /^\s*(?:let|const|var|class|(?:async\s+)?function)\b/.test(code);
  if (declaration) return new AsyncFunction("__scope", `with (__scope) { ${body}\n }`);
  try {
    return new AsyncFunction("__scope", `with (__scope) { return (${body}\n); }`);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
  }
  return new AsyncFunction("__scope", `with (__scope) { ${body}\n }`);
}

/** The helpers every session has. */
function helpers(write: (text: string) => void): Record<string, unknown> {
  return {
    /** Every thread: id, name, state, what it waits on. */
    threads: () => threadDump(),
    /** Interrupts thread `id` (with an Interrupted error, or `error`). */
    interrupt: (id: number, error?: unknown) => {
      const t = threadById(id);
      if (t === undefined) throw new RangeError(`no thread ${id}`);
      t.interrupt(error ?? new Interrupted(`interrupted from the backdoor`));
      return `${t}`;
    },
    /** Shuts thread `id` down. */
    shutdown: (id: number) => {
      const t = threadById(id);
      if (t === undefined) throw new RangeError(`no thread ${id}`);
      t.shutdown();
      return `${t}`;
    },
    /** Prints the threads as a table. */
    ps: () => {
      const lines = allThreads().map((t) =>
        `${String(t.id).padStart(6)}  ${t.state.padEnd(8)}  ${t.name}${
          t.waitingOn === null ? "" : `  (${String(t.waitingOn)})`
        }`
      );
      write(`    id  state     name\n${lines.join("\n")}\n`);
    },
    help: () => "threads(), ps(), interrupt(id), shutdown(id); await works; Ctrl-D or .exit ends",
  };
}

/**
 * A REPL session: reads inputs (lines until they make a complete program), evaluates them
 * in this thread (so `await` of any blocking call works), prints the result.
 *
 * @example
 * ```ts ignore
 * await new Repl(io, { globals: { server } }).run();
 * ```
 */
export class Repl {
  readonly #io: LineIO;
  readonly #options: Required<Omit<ReplOptions, "globals" | "welcome">> & ReplOptions;
  readonly #locals: Record<string | symbol, unknown>;
  readonly #scope: object;
  readonly #pending: string[] = [];

  /**
   * Creates a {@linkcode Repl}.
   *
   * @param io the transport; @param options globals, welcome, prompt
   */
  constructor(io: LineIO, options: ReplOptions = {}) {
    this.#io = io;
    this.#options = { prompt: ">>> ", newline: "\n", ...options };
    this.#locals = {
      ...helpers((text) => this.#pending.push(text)),
      ...options.globals,
    };
    const locals = this.#locals;
    this.#scope = new Proxy(locals, {
      // Names the session defined, and names no global has (so assignments land here).
      has: (t, k) => typeof k === "string" && (k in t || !(k in globalThis)),
      get: (t, k) => {
        if (k === Symbol.unscopables) return undefined;
        if (!(k in t)) throw new ReferenceError(`${String(k)} is not defined`);
        return t[k];
      },
      set: (t, k, v) => {
        t[k] = v;
        return true;
      },
    });
  }

  /** The session's variables. */
  get locals(): Record<string | symbol, unknown> {
    return this.#locals;
  }

  /**
   * Evaluates one complete input in the session. Interruption point while it awaits.
   * @throws whatever the code throws; SyntaxError if it does not compile
   */
  async evaluate(code: string): Promise<unknown> {
    return await compile(code)(this.#scope);
  }

  async #print(text: string): Promise<void> {
    const nl = this.#options.newline;
    await this.#io.write(nl === "\n" ? text : text.replace(/\r?\n/g, nl));
  }

  /** Runs the session until the input ends (Ctrl-D) or `.exit`. */
  async run(): Promise<void> {
    const nl = this.#options.newline;
    if (this.#options.welcome) await this.#print(`${this.#options.welcome}\n`);
    let buffer: string[] = [];
    for (;;) {
      await this.#io.write(buffer.length === 0 ? this.#options.prompt : "... ");
      const line = await this.#io.readLine();
      if (line === null || line === "\x04" || (buffer.length === 0 && line.trim() === ".exit")) {
        await this.#io.write(nl);
        return;
      }
      buffer.push(line);
      const code = buffer.join("\n");
      if (code.trim() === "") {
        buffer = [];
        continue;
      }
      let run: (scope: unknown) => Promise<unknown>;
      try {
        run = compile(code);
      } catch (e) {
        if (e instanceof SyntaxError && unfinished(code) && line.trim() !== "") continue;
        buffer = [];
        await this.#print(`${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
        continue;
      }
      buffer = [];
      let output: string;
      try {
        const value = await run(this.#scope);
        this.#locals._ = value;
        output = value === undefined ? "" : `${Deno.inspect(value, { depth: 4, colors: false })}\n`;
      } catch (e) {
        if (e instanceof Shutdown) throw e; // the session's thread is being stopped
        output = `${
          e instanceof Error
            ? (e.stack ?? `${e.name}: ${e.message}`)
            : `Uncaught ${Deno.inspect(e)}`
        }\n`;
      }
      const printed = this.#pending.splice(0).join("");
      await this.#print(printed + output);
    }
  }
}
