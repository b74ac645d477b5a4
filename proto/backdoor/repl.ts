/**
 * The backdoor's REPL, over any line transport: JavaScript evaluated inside the running
 * process, each session with its own variables, results shown with `Deno.inspect`.
 *
 * @module
 */

import type * as Acorn from "acorn";
import { acorn, loadAcorn } from "./_acorn.ts";

/** Loads the REPL's parser (npm:acorn), which {@linkcode rewriteInput} needs. */
export const loadParser: () => Promise<void> = loadAcorn;
import * as core from "../../core/mod.ts";
import { Interrupted, Shutdown } from "../../core/errors.ts";
import { allThreads, threadById, threadDump } from "../../core/thread.ts";

/** Lines in, text out: what a REPL session runs over (a socket, an SSH channel...). */
export interface LineIO {
  /** The next line without its end, or null at the end of input. Interruption point. */
  readLine(): Promise<string | null>;
  /** Writes text. Interruption point. */
  write(text: string): Promise<void>;
  /**
   * Takes the session's completer, for a transport that offers Tab completion (an SSH
   * terminal, the web terminal). Optional.
   */
  setCompleter?(complete: (line: string) => Completion): void;
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

/** What {@linkcode rewriteInput} makes of an input. */
export interface RewrittenInput {
  /** The body to run (inside `with (scope)` in an async function). */
  body: string;
  /** Names the input declares at top level (they become session variables). */
  declared: string[];
  /** Whether the input ends with an expression, whose value the body returns. */
  returnsValue: boolean;
}

type Node = Acorn.AnyNode;

/** The names a declaration's pattern binds (`a`, `{ b, c: [d] }`, `...rest`). */
function boundNames(pattern: Acorn.Pattern, into: string[]): void {
  switch (pattern.type) {
    case "Identifier":
      into.push(pattern.name);
      break;
    case "ObjectPattern":
      for (const p of pattern.properties) {
        boundNames(p.type === "RestElement" ? p.argument : p.value, into);
      }
      break;
    case "ArrayPattern":
      for (const e of pattern.elements) if (e !== null) boundNames(e, into);
      break;
    case "RestElement":
      boundNames(pattern.argument, into);
      break;
    case "AssignmentPattern":
      boundNames(pattern.left, into);
      break;
    default:
      break; // member expressions bind nothing
  }
}

/**
 * Parses an input (a script; `await` allowed at top level) and rewrites it the way Node's
 * and Deno's REPLs behave: top-level `const`/`let`/`var`, `function` and `class`
 * declarations become assignments to session variables (so the next input sees them;
 * functions first, as hoisting would have it), and a final expression statement's value
 * is returned (`a; b` shows b, `const t = spawn(f); t.state` shows the state).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadParser, rewriteInput } from "./repl.ts";
 * await loadParser();
 * const r = rewriteInput("const t = 1; t + 1");
 * assert.deepEqual(r.declared, ["t"]);
 * assert.equal(r.returnsValue, true);
 * assert.equal(r.body, "void (t = 1); return (t + 1);");
 * ```
 * The parser (npm:acorn) is loaded on first use: a {@linkcode Repl} loads it, or
 * `await loadParser()` first.
 *
 * @throws {SyntaxError} if the input does not parse (its `pos` says where)
 */
export function rewriteInput(code: string): RewrittenInput {
  const program = acorn.parse(code, {
    ecmaVersion: "latest",
    sourceType: "script",
    allowAwaitOutsideFunction: true,
  });
  const text = (node: Node) => code.slice(node.start, node.end);
  const edits: [number, number, string][] = [];
  const hoisted: string[] = [];
  const declared: string[] = [];
  for (const statement of program.body) {
    if (statement.type === "VariableDeclaration") {
      const parts = statement.declarations.map((d) => {
        boundNames(d.id, declared);
        return `${text(d.id)} = ${d.init ? text(d.init) : "undefined"}`;
      });
      edits.push([statement.start, statement.end, `void (${parts.join(", ")});`]);
    } else if (
      (statement.type === "FunctionDeclaration" || statement.type === "ClassDeclaration") &&
      statement.id
    ) {
      declared.push(statement.id.name);
      const assignment = `${statement.id.name} = ${text(statement)};`;
      if (statement.type === "FunctionDeclaration") {
        hoisted.push(assignment);
        edits.push([statement.start, statement.end, ""]);
      } else edits.push([statement.start, statement.end, assignment]);
    }
  }
  const last = program.body.at(-1);
  const returnsValue = last?.type === "ExpressionStatement";
  if (last?.type === "ExpressionStatement") {
    edits.push([last.start, last.end, `return (${text(last.expression)});`]);
  }
  let body = code;
  for (const [from, to, replacement] of edits.sort((a, b) => b[0] - a[0])) {
    body = body.slice(0, from) + replacement + body.slice(to);
  }
  return {
    body: hoisted.length === 0 ? body : `${hoisted.join("\n")}\n${body}`,
    declared,
    returnsValue,
  };
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

/** A compiled input: run it with the session's scope. */
interface Compiled {
  run: (scope: unknown) => Promise<unknown>;
  declared: string[];
  returnsValue: boolean;
}

/** Compiles an input (see {@linkcode rewriteInput}). */
function compile(code: string): Compiled {
  const { body, declared, returnsValue } = rewriteInput(code);
  return {
    run: new AsyncFunction("__scope", `with (__scope) {\n${body}\n}`),
    declared,
    returnsValue,
  };
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
    help: () =>
      "threads(), threadDump(), ps(), interrupt(id), shutdown(id); the core API: spawn, sleep, " +
      "withTimeout, waitFor, Event, Fifo, Mutex, Semaphore...; await works; Tab completes; " +
      "Ctrl-D or .exit ends",
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
   * Makes a session: the core API, the helpers and `options.globals` in scope.
   * @param io the transport
   * @param options globals, welcome, prompt
   */
  constructor(io: LineIO, options: ReplOptions = {}) {
    this.#io = io;
    this.#options = { prompt: ">>> ", newline: "\n", ...options };
    this.#locals = {
      ...core,
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
    io.setCompleter?.((line) => this.complete(line));
  }

  /** The session's variables. */
  get locals(): Record<string | symbol, unknown> {
    return this.#locals;
  }

  #prepare(code: string): Compiled {
    const compiled = compile(code);
    // Declared names live in the session even where a global has the same name.
    for (const name of compiled.declared) {
      if (!(name in this.#locals)) this.#locals[name] = undefined;
    }
    return compiled;
  }

  /**
   * Evaluates one complete input in the session and returns the value of its last
   * expression (undefined if it ends with a declaration or a statement). Interruption
   * point while it awaits.
   * @throws whatever the code throws; SyntaxError if it does not parse
   */
  async evaluate(code: string): Promise<unknown> {
    await loadAcorn();
    return await this.#prepare(code).run(this.#scope);
  }

  /**
   * Evaluates one complete input as an interactive line does, and returns what the line
   * shows: what it printed (`ps()`), then its value or its error. `ok` is false when it
   * threw. Interruption point while it awaits.
   * @throws {Shutdown} if the session's thread is being stopped
   */
  async evaluateLine(code: string): Promise<{ output: string; ok: boolean }> {
    await loadAcorn();
    let output: string, ok = true;
    try {
      const compiled = this.#prepare(code);
      const value = await compiled.run(this.#scope);
      if (compiled.returnsValue) this.#locals._ = value;
      output = value === undefined ? "" : `${Deno.inspect(value, { depth: 4, colors: false })}\n`;
    } catch (e) {
      if (e instanceof Shutdown) throw e; // the session's thread is being stopped
      ok = false;
      output = `${
        e instanceof SyntaxError
          ? `SyntaxError: ${e.message}`
          : e instanceof Error
          ? (e.stack ?? `${e.name}: ${e.message}`)
          : `Uncaught ${Deno.inspect(e)}`
      }\n`;
    }
    return { output: this.#pending.splice(0).join("") + output, ok };
  }

  /**
   * Completions for the end of `line`: the session's names and the globals, or an
   * object's properties after a dot (`Deno.ver` gives `version`). Property reads only:
   * nothing is called, though a getter runs.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Repl } from "./repl.ts";
   * const repl = new Repl({ readLine: () => Promise.resolve(null), write: () => Promise.resolve() });
   * assert.ok(repl.complete("Deno.vers").candidates.includes("version"));
   * assert.ok(repl.complete("withTime").candidates.includes("withTimeout"));
   * ```
   */
  complete(line: string): Completion {
    const m = /(?:^|[^\w$.])((?:[A-Za-z_$][\w$]*\s*\.\s*)*)([A-Za-z_$][\w$]*)?$/.exec(line);
    if (m === null) return { word: "", candidates: [] };
    const path = m[1].split(".").map((p) => p.trim()).filter((p) => p !== "");
    const word = m[2] ?? "";
    let names: Iterable<string>;
    if (path.length === 0) {
      names = [
        ...Object.keys(this.#locals),
        ...Object.getOwnPropertyNames(globalThis),
        ...KEYWORDS,
      ];
    } else {
      let value: unknown;
      try {
        value = path[0] in this.#locals
          ? this.#locals[path[0]]
          : (globalThis as Record<string, unknown>)[path[0]];
        for (const name of path.slice(1)) {
          if (value === null || value === undefined) break;
          value = (value as Record<string, unknown>)[name];
        }
      } catch {
        return { word, candidates: [] }; // a getter threw: nothing to offer
      }
      names = propertyNames(value);
    }
    const candidates = [...new Set(names)].filter((n) =>
      n.startsWith(word) && /^[A-Za-z_$][\w$]*$/.test(n)
    )
      .sort();
    return { word, candidates };
  }

  async #print(text: string): Promise<void> {
    const nl = this.#options.newline;
    await this.#io.write(nl === "\n" ? text : text.replace(/\r?\n/g, nl));
  }

  /** Runs the session until the input ends (Ctrl-D) or `.exit`. */
  async run(): Promise<void> {
    await loadAcorn();
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
      try {
        rewriteInput(code);
      } catch (e) {
        // Unfinished (the parser ran out of input): ask for more, unless a blank line.
        if (e instanceof SyntaxError && unfinished(code) && line.trim() !== "") continue;
      }
      buffer = [];
      await this.#print((await this.evaluateLine(code)).output);
    }
  }
}

/** What completes the end of a line. */
export interface Completion {
  /** The partial name at the end of the line that the candidates complete. */
  word: string;
  /** Names starting with `word`, sorted. */
  candidates: string[];
}

/**
 * What a line becomes on Tab: extended by what all candidates share, and whether to list
 * the candidates (several remain and the line could not be extended: a second Tab).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyCompletion } from "./repl.ts";
 * assert.deepEqual(applyCompletion("spa", { word: "spa", candidates: ["spawn"] }), {
 *   line: "spawn",
 *   list: false,
 * });
 * const several = ["threadById", "threads"];
 * assert.deepEqual(applyCompletion("thr", { word: "thr", candidates: several }), {
 *   line: "thread",
 *   list: false,
 * });
 * assert.deepEqual(applyCompletion("thread", { word: "thread", candidates: several }), {
 *   line: "thread",
 *   list: true,
 * });
 * ```
 */
export function applyCompletion(line: string, c: Completion): { line: string; list: boolean } {
  if (c.candidates.length === 0) return { line, list: false };
  let common = c.candidates[0];
  for (const candidate of c.candidates) {
    let i = 0;
    while (i < common.length && i < candidate.length && common[i] === candidate[i]) i++;
    common = common.slice(0, i);
  }
  const completed = line + common.slice(c.word.length);
  return { line: completed, list: c.candidates.length > 1 && completed === line };
}

/** Own and inherited property names of a value (for completion). */
function propertyNames(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  const names: string[] = [];
  let o: unknown = typeof value === "object" || typeof value === "function" ? value : Object(value);
  for (let depth = 0; o !== null && depth < 16; depth++) {
    names.push(...Object.getOwnPropertyNames(o));
    o = Object.getPrototypeOf(o);
  }
  return names;
}

const KEYWORDS = [
  "async",
  "await",
  "class",
  "const",
  "function",
  "let",
  "new",
  "return",
  "typeof",
  "instanceof",
];
