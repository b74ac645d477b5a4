/**
 * A Deno lint plugin with one rule, `shrapnel/no-unawaited-blocking`: a blocking call of
 * shrapnel's whose promise is dropped (`sleep(1);`, `fifo.pop();`, `sock.recv(10);`,
 * `void mutex.lock();`). A thread waits on one thing at a time, so such a call leaves
 * the thread blocked in the background and makes its next blocking call a
 * `SimultaneousError` (and the dropped call's outcome is lost).
 *
 * Use it from `deno.json`:
 *
 * ```json
 * { "lint": { "plugins": ["jsr:@shrapnel/shrapnel/lint"] } }
 * ```
 *
 * Calls whose names only shrapnel uses (`recv`, `recvExact`, `sleepUntil`, `readLock`,
 * `whenRoom`...) are flagged on any object. Names that built-ins share (`pop`, `join`,
 * `send`, `wait`, `lock`, `acquire`...) are flagged when the object is known to be ours in
 * the file: made with `new Fifo(...)` and the like, returned by `spawn`/`listenOn`/
 * `connectTo`/..., or declared with one of our types (`conn: Socket`, `#jobs: Fifo<Job>`).
 * An array's `pop()` is left alone. Silence one line with
 * `// deno-lint-ignore shrapnel/no-unawaited-blocking`.
 *
 * @example
 * ```ts ignore
 * import plugin from "./no_unawaited_blocking.ts";
 * const diagnostics = Deno.lint.runPlugin(plugin, "a.ts", "sleep(1);"); // in `deno test`
 * console.log(diagnostics[0].id); // "shrapnel/no-unawaited-blocking"
 * ```
 *
 * @module
 */

/** Blocking functions: flagged whatever calls them. */
const BLOCKING_FUNCTIONS = new Set([
  "sleep",
  "sleepUntil",
  "yieldSlice",
  "waitFor",
  "withTimeout",
  "inParallel",
  "joinAll",
  "connectTo",
  "waitForSignal",
  "waitForProcessExit",
  "waitForFileChange",
  "waitForFdRead",
  "waitForFdWrite",
]);

/** Blocking methods whose names only shrapnel uses: flagged on any object. */
const DISTINCT_METHODS = new Set([
  "recv",
  "recvInto",
  "recvExact",
  "recvFrom",
  "sendAll",
  "sendSome",
  "sendBorrowed",
  "sendTo",
  "acceptMany",
  "popAll",
  "blockTillZero",
  "readLock",
  "writeLock",
  "waitForRead",
  "waitForWrite",
  "whenRoom",
  "withLock",
  "sleepUntil",
]);

/** Blocking methods whose names built-ins share: flagged on objects known to be ours. */
const SHARED_METHODS = new Set([
  "pop",
  "join",
  "send",
  "accept",
  "connect",
  "acquire",
  "lock",
  "wait",
  "sleep",
  "next",
  "readv",
  "writev",
]);

/** Our classes: a `new` of one, or a declaration with one as its type, makes an object ours. */
const OUR_TYPES = new Set([
  "Fifo",
  "Mutex",
  "Semaphore",
  "InvertedSemaphore",
  "ConditionVariable",
  "RWLock",
  "Latch",
  "Event",
  "ThreadGroup",
  "Pacer",
  "Thread",
  "Socket",
  "FfiSocket",
  "DenoSocket",
  "BufferedReader",
]);

/** Functions (or methods) that return our objects. */
const OUR_FACTORIES = new Set([
  "spawn",
  "current",
  "currentFor",
  "threadById",
  "listenOn",
  "connectTo",
  "tcpSocket",
  "tcp6Socket",
  "udpSocket",
  "udp6Socket",
  "unixSocket",
  "socketPair",
  "fdSocket",
]);

type Node = Deno.lint.Node;

/** `a`, `this.a`, `this.#a`, `a.b`: a name for the object a method is called on. */
function receiverName(node: Node): string | undefined {
  if (node.type === "Identifier") return node.name;
  if (node.type === "ThisExpression") return "this";
  if (node.type === "MemberExpression" && !node.computed) {
    const object = receiverName(node.object);
    const property = node.property;
    if (object === undefined) return undefined;
    if (property.type === "Identifier") return `${object}.${property.name}`;
    if (property.type === "PrivateIdentifier") return `${object}.#${property.name}`;
  }
  return undefined;
}

/** The name a call or `new` invokes (`spawn`, `group.spawn` -> `spawn`, `new Fifo` -> `Fifo`). */
function calleeName(node: Node): string | undefined {
  const callee = node.type === "CallExpression" || node.type === "NewExpression"
    ? node.callee
    : undefined;
  if (callee === undefined) return undefined;
  if (callee.type === "Identifier") return callee.name;
  if (callee.type === "MemberExpression" && callee.property.type === "Identifier") {
    return callee.property.name;
  }
  return undefined;
}

/**
 * Which of our types a value has, if it makes its holder ours: `new Fifo()` (its class),
 * `spawn(...)`, `await connectTo(...)` (the factory's name).
 */
function ourValue(node: Node | null | undefined): string | undefined {
  if (node === null || node === undefined) return undefined;
  if (node.type === "AwaitExpression") return ourValue(node.argument);
  if (node.type === "TSAsExpression" || node.type === "TSNonNullExpression") {
    return ourValue(node.expression);
  }
  const name = calleeName(node) ?? "";
  if (node.type === "NewExpression" && OUR_TYPES.has(name)) return name;
  if (node.type === "CallExpression" && OUR_FACTORIES.has(name)) return name;
  return undefined;
}

/** Which of our types an annotation names (`Fifo<T>`, `Socket | null`...), if any. */
function ourType(node: Node | null | undefined): string | undefined {
  if (node === null || node === undefined) return undefined;
  switch (node.type) {
    case "TSTypeAnnotation":
      return ourType(node.typeAnnotation);
    case "TSTypeReference":
      return node.typeName.type === "Identifier" && OUR_TYPES.has(node.typeName.name)
        ? node.typeName.name
        : undefined;
    case "TSUnionType":
      for (const t of node.types) {
        const name = ourType(t);
        if (name !== undefined) return name;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** Methods of our classes that share a blocking method's name but never block. */
const NON_BLOCKING: Record<string, ReadonlySet<string>> = {
  InvertedSemaphore: new Set(["acquire"]),
};

function blocksOn(type: string, method: string): boolean {
  return !NON_BLOCKING[type]?.has(method);
}

/** The call a dropped expression makes, if it is one (`x.pop()`, `void x.pop()`). */
function droppedCall(expression: Node): Deno.lint.CallExpression | undefined {
  if (expression.type === "UnaryExpression" && expression.operator === "void") {
    return droppedCall(expression.argument);
  }
  if (expression.type === "ChainExpression") return droppedCall(expression.expression);
  return expression.type === "CallExpression" ? expression : undefined;
}

const rule: Deno.lint.Rule = {
  create(context) {
    const ours = new Map<string, string>(); // holder -> our type (or factory)
    const suspects: { call: Deno.lint.CallExpression; method: string; receiver: string }[] = [];
    const mark = (name: string | undefined, type: string | undefined) => {
      if (name !== undefined && type !== undefined) ours.set(name, type);
    };
    const report = (call: Node, what: string) =>
      context.report({
        node: call,
        message: `${what} blocks and its promise is dropped: await it (a thread waits on one ` +
          "thing at a time; the next blocking call would be a SimultaneousError)",
        hint: "add `await`, or spawn a thread for it if it should run on its own",
      });
    return {
      VariableDeclarator(node) {
        if (node.id.type !== "Identifier") return;
        mark(node.id.name, ourValue(node.init) ?? ourType(node.id.typeAnnotation));
      },
      PropertyDefinition(node) {
        const key = node.key;
        const name = key.type === "Identifier"
          ? `this.${key.name}`
          : key.type === "PrivateIdentifier"
          ? `this.#${key.name}`
          : undefined;
        mark(name, ourValue(node.value) ?? ourType(node.typeAnnotation));
      },
      AssignmentExpression(node) {
        mark(receiverName(node.left), ourValue(node.right));
      },
      Identifier(node) {
        mark(node.name, ourType(node.typeAnnotation)); // parameters: `conn: Socket`
      },
      TSParameterProperty(node) {
        const p = node.parameter;
        if (p.type === "Identifier") mark(`this.${p.name}`, ourType(p.typeAnnotation));
      },
      ExpressionStatement(node) {
        const call = droppedCall(node.expression);
        if (call === undefined) return;
        const callee = call.callee;
        if (callee.type === "Identifier") {
          if (BLOCKING_FUNCTIONS.has(callee.name)) report(call, `${callee.name}()`);
          return;
        }
        if (callee.type !== "MemberExpression" || callee.property.type !== "Identifier") return;
        const method = callee.property.name;
        if (DISTINCT_METHODS.has(method)) {
          report(call, `.${method}()`);
        } else if (SHARED_METHODS.has(method)) {
          const receiver = receiverName(callee.object);
          const made = ourValue(callee.object); // spawn(f).join();
          if (made !== undefined && blocksOn(made, method)) report(call, `.${method}()`);
          else if (receiver !== undefined) suspects.push({ call, method, receiver });
        }
      },
      "Program:exit"() {
        for (const { call, method, receiver } of suspects) {
          const type = ours.get(receiver);
          if (type !== undefined && blocksOn(type, method)) report(call, `${receiver}.${method}()`);
        }
      },
    };
  },
};

/** The plugin: `shrapnel/no-unawaited-blocking`. */
const plugin: Deno.lint.Plugin = {
  name: "shrapnel",
  rules: { "no-unawaited-blocking": rule },
};

export default plugin;
