//! Command-line definitions (clap derive) and nothing else: commands turn these
//! into validated configs before any work starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "rotor",
    version,
    about = "Benchmark, validate and rank LLM models served over OpenAI-compatible APIs",
    long_about = "rotor measures models served over OpenAI-compatible chat-completions APIs \
(OpenRouter's free models first), drives a code-generation suite through a rotation engine, \
records latency and 429s per model, and reranks a tiered model registry.\n\n\
Without an API key, probe and rotate-test run against the embedded simulator.",
    after_help = "Examples:\n  rotor probe                      # the registry's models (simulator without a key)\n  rotor probe --models meta-llama/llama-3.3-8b-instruct:free --repeat 3\n  rotor probe --base-url http://127.0.0.1:11434/v1 --models qwen2.5-coder:7b\n  rotor sim --scenario storm       # a simulated server for any client"
)]
pub struct Cli {
    /// The model registry.
    #[arg(
        long,
        global = true,
        default_value = "registry.yaml",
        value_name = "PATH"
    )]
    pub registry: PathBuf,
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; no progress bar.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send the prompt suite to every model, without fallback, and record every attempt.
    #[command(
        after_help = "Examples:\n  rotor probe\n  rotor probe --sim storm --repeat 2 --json\n  rotor probe --models a:free,b:free --concurrency 2 --out results/today.jsonl --csv today.csv\n  OPENROUTER_API_KEY=... rotor probe --no-stream --timeout 60"
    )]
    Probe(ProbeArgs),
    /// Send the suite through the rotation engine, check thresholds, write JUnit/Markdown (for CI).
    #[command(
        after_help = "Examples:\n  rotor rotate-test                                  # the registry's chain (simulator without a key)\n  rotor rotate-test --sim ci-storm --policy wait-first --json\n  rotor rotate-test --chain a:free,b:free --deadline 30 --min-success-rate 0.9 --max-p95-ms 20000\n  rotor rotate-test --junit rotor.xml --markdown rotor.md --require-valid\n\nExit codes: 0 every threshold held, 1 a threshold failed (named on stderr), 2 bad input, 3 environment (network, key), 130 interrupted."
    )]
    RotateTest(RotateTestArgs),
    /// Run the simulated OpenAI-compatible server until interrupted; prints its base URL first.
    #[command(
        after_help = "Examples:\n  rotor sim                         # free-tier scenario on an ephemeral port\n  rotor sim --scenario storm --addr 127.0.0.1:8080\n  rotor sim --scenario my-scenario.yaml --seed 7\n\nThe first line on stdout is the base URL (ending in /v1); GET /sim/stats shows what it did."
    )]
    Sim(SimArgs),
    /// Aggregate results files, rerank the registry's tiers and chain; table, JSON, CSV, Markdown, HTML.
    #[command(
        long_about = "Aggregate results files (JSON Lines from probe and rotate-test, or their CSV) per model, \
and rerank the registry: a reliability gate (Wilson lower bound of success), tiers by p50 latency, and \
within a tier the expected time to a good answer; a model moves only when the difference is significant. \
Recent runs weigh more (half-life 7 days, measured from the newest record).",
        after_help = "Examples:\n  rotor report                           # every file in results/\n  rotor report results/today.jsonl --json > ranking.json\n  rotor report 'results/*.jsonl' --since 7d --markdown >> \"$GITHUB_STEP_SUMMARY\"\n  rotor report --html report.html\n  rotor report --dry-run                 # the registry.yaml diff --write would make\n  rotor report --write --min-samples 20 --min-success 0.9"
    )]
    Report(ReportArgs),
    /// List a provider's models (GET /models), mark free ones, diff them against the registry.
    #[command(
        after_help = "Examples:\n  rotor models --free                    # OpenRouter's free models (no key needed)\n  rotor models --free --json > models.json\n  rotor models --diff                    # free models the registry lacks, and gone ones\n  rotor models --diff --write            # add new ones as candidates, retire gone ones\n  rotor models --base-url http://127.0.0.1:11434/v1 --provider local --diff --dry-run\n\n--diff compares the list with the registry models of one provider: --provider, else the provider whose base_url is --base-url (none: exit 2), else openrouter."
    )]
    Models(ModelsArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  rotor completions bash > ~/.local/share/bash-completion/completions/rotor\n  rotor completions zsh > ~/.zfunc/_rotor\n  rotor completions fish > ~/.config/fish/completions/rotor.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command into a directory.
    #[command(
        after_help = "Examples:\n  rotor man | man -l -\n  rotor man --out /usr/local/share/man/man1"
    )]
    Man(ManArgs),
}

/// `rotor report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results files, directories or quoted globs (JSON Lines or CSV); default results/.
    #[arg(value_name = "FILES")]
    pub files: Vec<String>,
    /// Leave out records older than this: a duration before now (7d, 12h) or a date/time.
    #[arg(long, value_name = "DURATION|DATE")]
    pub since: Option<String>,
    /// Decay half-life: a record this old weighs half as much as the newest (0: no decay).
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub half_life: String,
    /// Attempts a model needs before the gate judges it; fewer keep it in place, flagged stale.
    #[arg(long, default_value_t = crate::rank::DEFAULT_MIN_SAMPLES, value_name = "N")]
    pub min_samples: u64,
    /// The gate: the lower bound of the 95% Wilson interval of success must reach this.
    #[arg(long, default_value_t = crate::rank::DEFAULT_MIN_SUCCESS, value_name = "FRACTION")]
    pub min_success: f64,
    /// The gate on answers with code: with at least --min-samples validated answers, a model whose
    /// well-formed rate (answers with extractable code) has its 95% Wilson upper bound below this leaves the chain.
    #[arg(long, default_value_t = crate::rank::DEFAULT_MIN_WELL_FORMED, value_name = "FRACTION")]
    pub min_well_formed: f64,
    /// Print the ordering, statistics and changes as JSON.
    #[arg(long, conflicts_with_all = ["csv", "markdown"])]
    pub json: bool,
    /// Print one CSV row per model.
    #[arg(long, conflicts_with = "markdown")]
    pub csv: bool,
    /// Print Markdown (for a CI job summary or a pull request).
    #[arg(long)]
    pub markdown: bool,
    /// Also write a self-contained HTML report with SVG charts to PATH.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Rewrite the registry with the new order, tiers, statuses and stats (atomic; keeps comments); prints the diff.
    #[arg(long, conflicts_with = "dry_run")]
    pub write: bool,
    /// Print the diff --write would make, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Use the records of runs against the embedded simulator (time-scaled, not real
    /// figures) even next to real ones, and let --write put them in the registry.
    #[arg(long)]
    pub simulated: bool,
    /// Prices for cost figures: a GET /models body or `rotor models --json` output.
    #[arg(long, value_name = "FILE")]
    pub pricing: Option<PathBuf>,
}

/// `rotor models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// The registry provider to list (default: openrouter, else the first provider).
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Only free models (id ending in :free, or zero prompt and completion prices).
    #[arg(long)]
    pub free: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Compare with the registry: free models it lacks, and its models that are gone.
    #[arg(long)]
    pub diff: bool,
    /// With --diff: add new free models as candidates and retire gone ones (atomic; keeps comments).
    #[arg(long, requires = "diff", conflicts_with = "dry_run")]
    pub write: bool,
    /// With --diff: print the registry diff --write would make, and write nothing.
    #[arg(long, requires = "diff")]
    pub dry_run: bool,
    /// With --write: put a list served by rotor's simulator (`rotor sim`) in the registry.
    #[arg(long)]
    pub simulated: bool,
    /// List this OpenAI-compatible server instead of the provider's base URL; --diff
    /// compares with the registry provider of that base_url, or the --provider given.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (default: the provider's api_key_env).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Seconds to wait for the list.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub timeout: f64,
}

/// `rotor completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `rotor man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write rotor.1 and one rotor-COMMAND.1 per command into this directory instead of printing rotor.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Flags shared by probe and rotate-test.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Models to use, comma separated (ids outside the registry are allowed with --base-url).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub models: Vec<String>,
    /// The prompt suite (YAML); the embedded code-generation suite when not given.
    #[arg(long, value_name = "PATH")]
    pub suite: Option<PathBuf>,
    /// Only these prompt ids of the suite, comma separated.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub prompts: Vec<String>,
    /// Send each prompt N times to each model.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub repeat: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub concurrency: usize,
    /// Stream responses (the default; measures TTFT).
    #[arg(long, overrides_with = "no_stream")]
    pub stream: bool,
    /// Ask for whole responses instead of streams.
    #[arg(long = "no-stream", overrides_with = "stream")]
    pub no_stream: bool,
    /// Total time allowed for one HTTP attempt, in seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub timeout: f64,
    /// An OpenAI-compatible base URL to use for every model instead of the registry's providers.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key for --base-url.
    #[arg(long, value_name = "VAR", requires = "base_url")]
    pub api_key_env: Option<String>,
    /// Use the embedded simulator (optionally a scenario name or file) even when a key is set.
    #[arg(long, num_args = 0..=1, default_missing_value = "free-tier", value_name = "SCENARIO", conflicts_with = "base_url")]
    pub sim: Option<String>,
    // Shown as is by --help, where <command> reads better than markup.
    #[allow(rustdoc::invalid_html_tags)]
    /// The JSON Lines results file (appended); default results/<command>-<UTC time>.jsonl.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Continue the run recorded in FILE: skip the prompts it finished,
    /// append to it, keep its run id.
    #[arg(long, value_name = "FILE", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Also write every attempt as CSV to this file.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print a machine-readable summary (JSON) on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Do not run the answers' code against the suite's tests.
    #[arg(long)]
    pub no_validate: bool,
    /// Do not open the connections before the first prompt (with it, the
    /// first request on each connection also measures the TCP and TLS handshakes).
    #[arg(long)]
    pub no_warmup: bool,
    /// Seed for the engine's jitter and, when given, the simulator's scenario
    /// (which otherwise keeps its own seed): the same seed, the same run.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

impl RunArgs {
    pub fn streaming(&self) -> bool {
        !self.no_stream
    }
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

/// `rotor rotate-test`: the shared run flags plus the engine and threshold flags.
/// `--models` is probe's (rotate-test takes `--chain`): accepted only to say
/// so, not listed in the help.
#[derive(Debug, Args)]
#[command(mut_arg("models", |a| a.hide(true)))]
pub struct RotateTestArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The fallback chain, primary first, comma separated (default: the registry's
    /// rotation.order, else its verified models by tier and position).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub chain: Vec<String>,
    /// The rotation policy: adaptive, fallback-first or wait-first (default: rotation.policy).
    #[arg(
        long,
        value_name = "POLICY",
        value_parser = clap::builder::PossibleValuesParser::new(["adaptive", "fallback-first", "wait-first"])
    )]
    pub policy: Option<String>,
    /// Deadline of one prompt across all attempts and fallbacks, in wall-clock seconds
    /// (default: rotation.deadline_s; against the simulator scaled by its time_scale).
    #[arg(long, value_name = "SECS")]
    pub deadline: Option<f64>,
    /// Fail (exit 1) when fewer prompts than this fraction succeed (default: ci.min_success_rate, 0.95).
    #[arg(long, value_name = "R")]
    pub min_success_rate: Option<f64>,
    /// Fail when the p95 of prompt latency (waits included) exceeds this (default: ci.max_p95_ms).
    #[arg(long, value_name = "MS")]
    pub max_p95_ms: Option<u64>,
    /// Fail when more than this fraction of answers came from a fallback (default: ci.max_fallback_rate).
    #[arg(long, value_name = "R")]
    pub max_fallback_rate: Option<f64>,
    /// Write a JUnit XML report (one test case per prompt) to this file.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary to this file (also appended to $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// An answer that fails its tests counts as a failure: the engine moves on to another model.
    #[arg(long, conflicts_with = "no_validate")]
    pub require_valid: bool,
    /// With the simulator: write its request log (what it received and answered, its
    /// ground truth) to this JSON file.
    #[arg(long, value_name = "PATH")]
    pub sim_log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// A scenario name (free-tier, storm, outage, flaky-streams, all-outcomes, hostile,
    /// validation, sdk-check, ci-*; see the README) or a YAML file.
    #[arg(long, default_value = "free-tier", value_name = "NAME|PATH")]
    pub scenario: String,
    /// Address to listen on (loopback; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub addr: SocketAddr,
    /// Override the scenario's seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Override the scenario's time scale (0.01 = a hundred times faster).
    #[arg(long, value_name = "X")]
    pub time_scale: Option<f64>,
    /// The prompt suite whose solutions the simulator answers with.
    #[arg(long, value_name = "PATH")]
    pub suite: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rotate_test_takes_a_chain_and_thresholds() {
        let cli = Cli::parse_from([
            "rotor",
            "rotate-test",
            "--chain",
            "a,b",
            "--policy",
            "wait-first",
            "--min-success-rate",
            "0.9",
            "--sim",
        ]);
        let Command::RotateTest(r) = cli.command else {
            panic!("rotate-test")
        };
        assert_eq!(r.chain, ["a", "b"]);
        assert_eq!(r.policy.as_deref(), Some("wait-first"));
        assert_eq!(r.min_success_rate, Some(0.9));
        assert_eq!(r.run.sim.as_deref(), Some("free-tier"));
        let e = Cli::try_parse_from(["rotor", "rotate-test", "--require-valid", "--no-validate"]);
        assert!(e.is_err(), "--require-valid conflicts with --no-validate");
    }

    #[test]
    fn sim_flag_takes_an_optional_scenario() {
        let cli = Cli::parse_from(["rotor", "probe", "--sim"]);
        let Command::Probe(p) = cli.command else {
            panic!("probe")
        };
        assert_eq!(p.run.sim.as_deref(), Some("free-tier"));
        let cli = Cli::parse_from(["rotor", "probe", "--sim", "storm", "--no-stream"]);
        let Command::Probe(p) = cli.command else {
            panic!("probe")
        };
        assert_eq!(p.run.sim.as_deref(), Some("storm"));
        assert!(!p.run.streaming());
    }
}
