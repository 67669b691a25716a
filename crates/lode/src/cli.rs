//! Command-line parsing: few flags, Loki's `-config.file=` accepted too.
//! Precedence: flags, then `LODE_*` environment variables, then the config
//! file, then embedded defaults.

pub const USAGE: &str = "usage: lode [--config FILE] [--listen ADDR:PORT] [--data-dir DIR]
       lode --check-config FILE
       lode --help | --version

  --config FILE       YAML config (also -config.file=FILE, env LODE_CONFIG)
  --listen ADDR:PORT  listen address (env LODE_LISTEN; default 0.0.0.0:3100)
  --data-dir DIR      data directory (env LODE_DATA_DIR; default ./data)
  --check-config FILE validate a config file and exit (0 valid, 1 invalid)

Configuration keys are documented in docs/configuration.md.";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve,
    CheckConfig(String),
    Help,
    Version,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub command: Command,
    pub config_file: Option<String>,
    pub listen: Option<String>,
    pub data_dir: Option<String>,
}

pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
    let mut o = Options {
        command: Command::Serve,
        config_file: env("LODE_CONFIG"),
        listen: env("LODE_LISTEN"),
        data_dir: env("LODE_DATA_DIR"),
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
        match flag {
            "--config" | "-config" | "-config.file" | "--config.file" => {
                o.config_file = Some(value()?)
            }
            "--listen" | "-listen" => o.listen = Some(value()?),
            "--data-dir" | "-data-dir" => o.data_dir = Some(value()?),
            "--check-config" | "-check-config" => o.command = Command::CheckConfig(value()?),
            "--help" | "-help" | "-h" => o.command = Command::Help,
            "--version" | "-version" => o.command = Command::Version,
            _ => return Err(format!("unknown argument {a:?}")),
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
}
