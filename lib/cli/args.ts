/**
 * Command-line parsing for the tasks: each command declares its options (name, kind, default, help) once; the same
 * declaration gives the parser, the validation of values and the `--help` text. Bad input becomes a
 * {@link UsageError} with one line naming the option and the problem; {@link runCommand} prints it and exits with
 * status 2 (other failures: status 1), never a stack trace.
 * @module
 */

/** How an option's value is read. */
export type OptionKind = "string" | "int" | "number" | "flag";

/** One option of a command. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `batch-size`. */
  readonly name: string;
  /** Value kind; flags take no value. */
  readonly kind: OptionKind;
  /** Help text (one line). */
  readonly help: string;
  /** Placeholder in the help text, e.g. `N` or `FILE`. */
  readonly value?: string;
  /** Default value, shown in the help text. */
  readonly default?: string | number | boolean;
  /** Allowed values (string options). */
  readonly choices?: readonly string[];
  /** Smallest allowed value (numeric options). */
  readonly min?: number;
  /** Whether the value must exceed `min` rather than reach it. */
  readonly exclusiveMin?: boolean;
  /** Whether the option must be given. */
  readonly required?: boolean;
}

/** A command: name, summary, positional arguments and options. */
export interface CommandSpec {
  /** Task name, e.g. `train`. */
  readonly name: string;
  /** One-line description. */
  readonly summary: string;
  /** Positional arguments, e.g. `<audio files…>`; absent: none are accepted. */
  readonly positionals?: { readonly name: string; readonly help: string; readonly min?: number };
  /** Options (`--help` is added). */
  readonly options: readonly OptionSpec[];
  /** Extra help paragraphs (examples, notes). */
  readonly notes?: readonly string[];
}

/** Parsed arguments. */
export interface ParsedArgs {
  /** Option values by long name (defaults filled in; absent options without default are undefined). */
  readonly values: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Options given explicitly on the command line. */
  readonly given: ReadonlySet<string>;
  /** Positional arguments. */
  readonly positionals: readonly string[];
  /** Whether `--help` was asked for. */
  readonly help: boolean;
}

/** A bad command line: the message is one line naming the option and the problem. */
export class UsageError extends Error {
  /** Wraps a usage problem. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function parseValue(o: OptionSpec, raw: string): string | number {
  if (o.kind === "string") {
    if (o.choices && !o.choices.includes(raw)) {
      throw new UsageError(`--${o.name}: "${raw}" is not one of ${o.choices.join(", ")}`);
    }
    if (raw === "") throw new UsageError(`--${o.name}: value must not be empty`);
    return raw;
  }
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v)) throw new UsageError(`--${o.name}: "${raw}" is not a number`);
  if (o.kind === "int" && !Number.isInteger(v)) throw new UsageError(`--${o.name}: "${raw}" is not an integer`);
  if (o.min !== undefined && (o.exclusiveMin ? !(v > o.min) : !(v >= o.min))) {
    throw new UsageError(`--${o.name}: ${raw} must be ${o.exclusiveMin ? ">" : "≥"} ${o.min}`);
  }
  return v;
}

/** Parses `argv` against a command; throws a {@link UsageError} for anything not declared or malformed. */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const byName = new Map(spec.options.map((o) => [o.name, o]));
  const values: Record<string, string | number | boolean | undefined> = {};
  const given = new Set<string>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) throw new UsageError(`unknown option ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const o = byName.get(name);
    if (!o) throw new UsageError(`unknown option --${name} (see --help)`);
    if (given.has(name)) throw new UsageError(`--${name} given twice`);
    given.add(name);
    if (o.kind === "flag") {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    let raw: string | undefined;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      raw = argv[i + 1];
      if (raw === undefined || (raw.startsWith("--") && raw.length > 2)) {
        throw new UsageError(`--${name} needs a value${o.value ? ` (${o.value})` : ""}`);
      }
      i++;
    }
    values[name] = parseValue(o, raw);
  }
  if (help) return { values, given, positionals, help };
  for (const o of spec.options) {
    if (values[o.name] !== undefined) continue;
    if (o.required) throw new UsageError(`--${o.name} is required`);
    values[o.name] = o.kind === "flag" ? (o.default ?? false) : o.default;
  }
  if (!spec.positionals && positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const min = spec.positionals?.min ?? 0;
  if (positionals.length < min) throw new UsageError(`expected ${spec.positionals!.name}`);
  return { values, given, positionals, help };
}

/** The `--help` text of a command. */
export function helpText(spec: CommandSpec): string {
  const pos = spec.positionals ? ` ${spec.positionals.name}` : "";
  const lines = [`deno task ${spec.name}${pos} [options]`, "", spec.summary, ""];
  if (spec.positionals) lines.push("Arguments:", `  ${spec.positionals.name.padEnd(28)}${spec.positionals.help}`, "");
  lines.push("Options:");
  const opts: OptionSpec[] = [...spec.options, { name: "help", kind: "flag", help: "show this help and exit" }];
  for (const o of opts) {
    const head = `  --${o.name}${o.kind === "flag" ? "" : ` ${o.value ?? (o.kind === "string" ? "VALUE" : "N")}`}`;
    const extra = [
      o.choices ? `one of ${o.choices.join(", ")}` : "",
      o.required ? "required" : o.default !== undefined && o.kind !== "flag" ? `default ${o.default}` : "",
    ].filter((s) => s !== "").join("; ");
    const text = `${o.help}${extra ? ` (${extra})` : ""}`;
    lines.push(head.length < 30 ? `${head.padEnd(30)}${text}` : `${head}\n${" ".repeat(30)}${text}`);
  }
  if (spec.notes?.length) lines.push("", ...spec.notes);
  return lines.join("\n") + "\n";
}

/** The first line of an error's message. */
export function firstLine(e: unknown): string {
  return ((e instanceof Error ? e.message : String(e)).split("\n")[0] || "unknown error").trim();
}

/**
 * Runs a command: parses `Deno.args`, prints help on `--help`, runs `main`, and turns failures into one line on
 * stderr (`<task>: <problem>`) with exit status 2 (usage) or 1 (anything else).
 */
export async function runCommand(
  spec: CommandSpec,
  main: (args: ParsedArgs) => Promise<number | void>,
  argv: readonly string[] = Deno.args,
): Promise<never> {
  let code = 0;
  try {
    const args = parseArgs(spec, argv);
    if (args.help) {
      await Deno.stdout.write(new TextEncoder().encode(helpText(spec)));
    } else {
      code = (await main(args)) ?? 0;
    }
  } catch (e) {
    console.error(`${spec.name}: ${firstLine(e)}`);
    code = e instanceof UsageError ? 2 : 1;
  }
  Deno.exit(code);
}

/** A string option's value (or undefined). */
export function str(a: ParsedArgs, name: string): string | undefined {
  const v = a.values[name];
  return v === undefined ? undefined : String(v);
}

/** A numeric option's value (or undefined). */
export function num(a: ParsedArgs, name: string): number | undefined {
  const v = a.values[name];
  return v === undefined ? undefined : Number(v);
}

/** A flag's value. */
export function flag(a: ParsedArgs, name: string): boolean {
  return a.values[name] === true;
}
