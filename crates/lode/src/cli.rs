//! Command-line parsing: Lode's few flags, and the Loki flags whose meaning
//! Lode shares (`-config.file=`, `-log.level=`, `-target=`,
//! `-server.http-listen-port=`, `-config.expand-env=`, `-print-config-stderr`).
//! Precedence: flags, then `LODE_*` environment variables, then the config
//! file, then embedded defaults.

pub const USAGE: &str = "usage: lode [flags]
       lode --check-config FILE
       lode --help | --version

Flags (Lode's spelling first, then Loki's; an environment variable where one exists):
  --config FILE                 YAML config file                  -config.file=FILE          env LODE_CONFIG   default: none (embedded defaults)
  --listen ADDR:PORT            listen address                                               env LODE_LISTEN   default: 0.0.0.0:3100
  --listen-port PORT            listen port only                  -server.http-listen-port=PORT              default: 3100
  --listen-address ADDR         listen address only               -server.http-listen-address=ADDR           default: 0.0.0.0
  --data-dir DIR                data directory                                               env LODE_DATA_DIR default: ./data
  --log-level LEVEL             error|warn|info|debug|trace       -log.level=LEVEL           env RUST_LOG wins default: info
  --expand-env                  expand ${VAR}, $VAR, ${VAR:-default} in the config file
                                                                  -config.expand-env=true                     default: false
  --print-config-stderr         print the effective config at start
                                                                  -print-config-stderr                        default: false
  --target T                    all (one process) or, with a bucket, write | read | backend
                                                                  -target=T                                   default: all
  --check-config FILE           validate a config file and exit (0 valid, 1 invalid)
  --help, -h                    this text
  --version                     version and the Loki API version Lode answers as

Flags override the config file; the config file overrides the defaults. Every config key, its default
and its meaning: docs/configuration.md. Operating Lode (upgrade, backup, metrics): docs/operations.md.";

#[derive(Debug, PartialEq, Eq, Default)]
pub enum Command {
    #[default]
    Serve,
    CheckConfig(String),
    Help,
    Version,
}

#[derive(Debug, PartialEq, Eq, Default)]
pub struct Options {
    pub command: Command,
    pub config_file: Option<String>,
    pub listen: Option<String>,
    pub listen_port: Option<u16>,
    pub listen_address: Option<String>,
    pub data_dir: Option<String>,
    pub log_level: Option<String>,
    pub expand_env: bool,
    pub print_config: bool,
    pub target: Option<String>,
}

fn parse_bool(flag: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{flag}: expected true or false, got {v:?}")),
    }
}

pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
    let mut o = Options {
        config_file: env("LODE_CONFIG"),
        listen: env("LODE_LISTEN"),
        data_dir: env("LODE_DATA_DIR"),
        ..Options::default()
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (a, None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        // Boolean flags take no separate value (`-x`, `-x=true`).
        let boolean = |inline: &Option<String>| match inline {
            Some(v) => parse_bool(flag, v),
            None => Ok(true),
        };
        match flag {
            "--config" | "-config" | "-config.file" | "--config.file" => {
                o.config_file = Some(value()?)
            }
            "--listen" | "-listen" => o.listen = Some(value()?),
            "--listen-port" | "-server.http-listen-port" | "--server.http-listen-port" => {
                let v = value()?;
                o.listen_port = Some(
                    v.parse()
                        .map_err(|_| format!("{flag}: not a port number: {v:?}"))?,
                );
            }
            "--listen-address" | "-server.http-listen-address" | "--server.http-listen-address" => {
                o.listen_address = Some(value()?)
            }
            "--data-dir" | "-data-dir" => o.data_dir = Some(value()?),
            "--log-level" | "-log.level" | "--log.level" => o.log_level = Some(value()?),
            "--expand-env" | "-config.expand-env" | "--config.expand-env" => {
                o.expand_env = boolean(&inline)?
            }
            "--print-config-stderr" | "-print-config-stderr" => o.print_config = boolean(&inline)?,
            "--target" | "-target" => {
                let v = value()?;
                if !["all", "write", "read", "backend"].contains(&v.as_str()) {
                    return Err(format!(
                        "{flag}={v}: the targets are all (one process, the default), write, read and backend (scalable mode, docs/deploy.md)"
                    ));
                }
                o.target = Some(v);
            }
            "--check-config" | "-check-config" => o.command = Command::CheckConfig(value()?),
            "--help" | "-help" | "-h" => o.command = Command::Help,
            "--version" | "-version" => o.command = Command::Version,
            _ => return Err(format!("unknown argument {a:?} (see lode --help)")),
        }
        i += 1;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse(&args(&[]), |_| None).unwrap();
        assert_eq!(o.command, Command::Serve);
        assert_eq!(o.config_file, None);
        let o = parse(
            &args(&["-config.file=/etc/lode.yaml", "--listen", "127.0.0.1:3101"]),
            |_| None,
        )
        .unwrap();
        assert_eq!(o.config_file.as_deref(), Some("/etc/lode.yaml"));
        assert_eq!(o.listen.as_deref(), Some("127.0.0.1:3101"));
    }

    #[test]
    fn loki_flags() {
        let o = parse(
            &args(&[
                "-log.level=debug",
                "-target=all",
                "-server.http-listen-port=3102",
                "-server.http-listen-address",
                "127.0.0.1",
                "-config.expand-env=true",
                "-print-config-stderr",
            ]),
            |_| None,
        )
        .unwrap();
        assert_eq!(o.log_level.as_deref(), Some("debug"));
        assert_eq!(o.listen_port, Some(3102));
        assert_eq!(o.listen_address.as_deref(), Some("127.0.0.1"));
        assert!(o.expand_env);
        assert!(o.print_config);
        let o = parse(
            &args(&["-config.expand-env=false", "-config.expand-env"]),
            |_| None,
        )
        .unwrap();
        assert!(o.expand_env, "the last one wins");
        assert_eq!(
            parse(&args(&["-target=read"]), |_| None)
                .unwrap()
                .target
                .as_deref(),
            Some("read")
        );
        let e = parse(&args(&["-target=querier"]), |_| None).unwrap_err();
        assert!(e.contains("write, read and backend"), "{e}");
        let e = parse(&args(&["-config.expand-env=maybe"]), |_| None).unwrap_err();
        assert!(e.contains("-config.expand-env"), "{e}");
        let e = parse(&args(&["-server.http-listen-port=http"]), |_| None).unwrap_err();
        assert!(e.contains("not a port number"), "{e}");
    }

    #[test]
    fn env_then_flags() {
        let env = |k: &str| (k == "LODE_DATA_DIR").then(|| "/env".to_string());
        assert_eq!(
            parse(&args(&[]), env).unwrap().data_dir.as_deref(),
            Some("/env")
        );
        assert_eq!(
            parse(&args(&["--data-dir=/flag"]), env)
                .unwrap()
                .data_dir
                .as_deref(),
            Some("/flag")
        );
    }

    #[test]
    fn errors() {
        assert!(parse(&args(&["--bogus"]), |_| None).is_err());
        assert!(parse(&args(&["--config"]), |_| None).is_err());
        assert_eq!(
            parse(&args(&["--check-config", "x.yaml"]), |_| None)
                .unwrap()
                .command,
            Command::CheckConfig("x.yaml".into())
        );
    }

    /// Every flag the parser knows is in the help text.
    #[test]
    fn help_names_every_flag() {
        for f in [
            "--config",
            "-config.file",
            "--listen",
            "--listen-port",
            "-server.http-listen-port",
            "--listen-address",
            "-server.http-listen-address",
            "--data-dir",
            "--log-level",
            "-log.level",
            "--expand-env",
            "-config.expand-env",
            "--print-config-stderr",
            "-print-config-stderr",
            "--target",
            "-target",
            "--check-config",
            "--help",
            "--version",
            "LODE_CONFIG",
            "LODE_LISTEN",
            "LODE_DATA_DIR",
        ] {
            assert!(USAGE.contains(f), "{f} missing from --help");
        }
    }
}
