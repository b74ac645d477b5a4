/**
 * robots.txt (RFC 9309): the groups for our user agent (or `*`), Allow/Disallow with `*`
 * and `$`, the longest match deciding (Allow on a tie), and Crawl-delay.
 *
 * @module
 */

/** What a site's robots.txt says to one crawler. */
export interface RobotsRules {
  /** Whether `path` (path and query of a URL) may be fetched. */
  allows(path: string): boolean;
  /** Seconds to wait between requests, if the site asks (Crawl-delay), else null. */
  readonly crawlDelay: number | null;
}

interface Rule {
  allow: boolean;
  length: number;
  pattern: RegExp;
}

/** Fetching allowed everywhere (no robots.txt, or a 4xx for it). */
export const ALLOW_ALL: RobotsRules = { allows: () => true, crawlDelay: null };

/** Fetching allowed nowhere (robots.txt unreachable: a 5xx or a network error). */
export const DISALLOW_ALL: RobotsRules = { allows: () => false, crawlDelay: null };

/** Largest robots.txt read (RFC 9309 asks for at least 500 KiB to be parsed). */
export const MAX_ROBOTS_BYTES = 512 * 1024;

function compile(path: string): RegExp {
  const anchored = path.endsWith("$");
  const body = (anchored ? path.slice(0, -1) : path)
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}${anchored ? "$" : ""}`);
}

/**
 * Parses `text` for the crawler named `agent`: the groups naming it (its product token,
 * case-insensitively), else the `*` groups, else no rules.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRobots } from "./robots.ts";
 * const rules = parseRobots("User-agent: *\nDisallow: /private/\nAllow: /private/ok$\n", "bot");
 * assert.equal(rules.allows("/private/x"), false);
 * assert.equal(rules.allows("/private/ok"), true);
 * assert.equal(rules.allows("/public"), true);
 * ```
 */
export function parseRobots(text: string, agent: string): RobotsRules {
  const token = agent.toLowerCase().split("/")[0];
  const mine: Rule[] = [], star: Rule[] = [];
  let mineDelay: number | null = null, starDelay: number | null = null;
  let sawMine = false;
  let agents: string[] = [];
  let inRules = false; // a rule line ends the group's User-agent lines
  for (const raw of text.split(/\r\n|\r|\n/)) {
    const line = raw.replace(/#.*/, "").trim();
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === "user-agent") {
      if (inRules) agents = [];
      inRules = false;
      agents.push(value.toLowerCase());
      continue;
    }
    inRules = true;
    const forMe = agents.some((a) => a !== "*" && token.includes(a));
    const forAll = agents.includes("*");
    if (!forMe && !forAll) continue;
    if (forMe) sawMine = true;
    if (key === "allow" || key === "disallow") {
      if (value === "") continue; // "Disallow:" allows everything
      const rule = { allow: key === "allow", length: value.length, pattern: compile(value) };
      (forMe ? mine : star).push(rule);
    } else if (key === "crawl-delay") {
      const seconds = Number(value);
      if (Number.isFinite(seconds) && seconds >= 0) {
        if (forMe) mineDelay = seconds;
        else starDelay = seconds;
      }
    }
  }
  const rules = sawMine ? mine : star;
  const crawlDelay = sawMine ? mineDelay : starDelay;
  return {
    crawlDelay,
    allows(path: string): boolean {
      let best: Rule | null = null;
      for (const rule of rules) {
        if (!rule.pattern.test(path)) continue;
        if (
          best === null || rule.length > best.length ||
          (rule.length === best.length && rule.allow)
        ) best = rule;
      }
      return best === null || best.allow;
    },
  };
}
