//! The containers, driven through the `docker` command line: `docker compose` (or the
//! older `docker-compose`) for the cluster, `docker` itself for the faults.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A failed command, with what it printed.
pub type Outcome<T> = Result<T, String>;

/// Runs `command` to completion; fails with its stderr unless it exits 0.
fn run(command: &mut Command) -> Outcome<String> {
    let shown = format!("{command:?}");
    let output: Output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {shown}: {error}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).trim().to_string());
    }
    Err(format!(
        "{shown} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

fn docker() -> Command {
    Command::new("docker")
}

/// One compose project: the files, the environment they read, and the project name.
#[derive(Debug)]
pub struct Compose {
    program: Vec<String>,
    files: Vec<PathBuf>,
    project: String,
    environment: Vec<(String, String)>,
}

impl Compose {
    /// `docker compose` when the plugin is installed, else `docker-compose`.
    pub fn new(
        project: &str,
        files: Vec<PathBuf>,
        environment: Vec<(String, String)>,
    ) -> Outcome<Compose> {
        let plugin = run(docker().args(["compose", "version"])).is_ok();
        let program = if plugin {
            vec!["docker".to_string(), "compose".to_string()]
        } else if run(Command::new("docker-compose").arg("version")).is_ok() {
            vec!["docker-compose".to_string()]
        } else {
            return Err(
                "neither `docker compose` nor `docker-compose` runs; install one".to_string(),
            );
        };
        Ok(Compose {
            program,
            files,
            project: project.to_string(),
            environment,
        })
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program[0]);
        command.args(&self.program[1..]);
        for file in &self.files {
            command.arg("--file").arg(file);
        }
        command.args(["--project-name", &self.project]);
        command.envs(self.environment.iter().map(|(name, value)| (name, value)));
        command
    }

    pub fn up(&self) -> Outcome<()> {
        run(self.command().args(["up", "--detach"])).map(drop)
    }

    /// Stops and removes the containers and the network; the data on the host stays.
    pub fn down(&self) -> Outcome<()> {
        run(self.command().args(["down", "--timeout", "10"])).map(drop)
    }

    /// The id of the container running `service`.
    pub fn container(&self, service: &str) -> Outcome<Container> {
        let id = run(self.command().args(["ps", "--quiet", service]))?;
        if id.is_empty() {
            return Err(format!("compose runs no container for {service}"));
        }
        Ok(Container {
            id,
            service: service.to_string(),
        })
    }
}

/// One container, by id.
#[derive(Clone, Debug)]
pub struct Container {
    pub id: String,
    pub service: String,
}

impl Container {
    /// SIGKILL: the process ends at once, with nothing flushed or closed.
    pub fn kill(&self) -> Outcome<()> {
        run(docker().args(["kill", "--signal", "KILL", &self.id])).map(drop)
    }

    /// SIGTERM, then SIGKILL after the grace period.
    pub fn stop(&self) -> Outcome<()> {
        run(docker().args(["stop", "--time", "30", &self.id])).map(drop)
    }

    pub fn start(&self) -> Outcome<()> {
        run(docker().args(["start", &self.id])).map(drop)
    }

    pub fn pause(&self) -> Outcome<()> {
        run(docker().args(["pause", &self.id])).map(drop)
    }

    pub fn unpause(&self) -> Outcome<()> {
        run(docker().args(["unpause", &self.id])).map(drop)
    }

    /// The state of its healthcheck: `starting`, `healthy` or `unhealthy`.
    pub fn health(&self) -> Outcome<String> {
        let format = "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}";
        run(docker().args(["inspect", "--format", format, &self.id]))
    }

    /// The networks the container is attached to.
    pub fn networks(&self) -> Outcome<Vec<String>> {
        let format = "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}";
        let names = run(docker().args(["inspect", "--format", format, &self.id]))?;
        Ok(names.split_whitespace().map(str::to_string).collect())
    }

    /// The container's IP address on `network`.
    pub fn address(&self, network: &str) -> Outcome<String> {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
        run(docker().args(["inspect", "--format", &format, &self.id]))
    }

    pub fn disconnect(&self, network: &str) -> Outcome<()> {
        run(docker().args(["network", "disconnect", network, &self.id])).map(drop)
    }

    /// Attaches the container to `network` again, under its service name (the alias
    /// compose gave it, which a plain reconnection would drop) and at `address`.
    pub fn connect(&self, network: &str, address: &str) -> Outcome<()> {
        run(docker().args([
            "network",
            "connect",
            "--alias",
            &self.service,
            "--ip",
            address,
            network,
            &self.id,
        ]))
        .map(drop)
    }

    /// Everything the container logged, into `path`.
    pub fn save_logs(&self, path: &Path) -> Outcome<()> {
        let output = docker()
            .args(["logs", &self.id])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("cannot run docker logs: {error}"))?;
        let mut text = output.stdout;
        text.extend_from_slice(&output.stderr);
        std::fs::write(path, text)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))
    }
}

/// The IPv4 subnets of every Docker network, to choose one that none uses.
pub fn subnets_in_use() -> Outcome<Vec<String>> {
    let ids = run(docker().args(["network", "ls", "--quiet"]))?;
    let mut command = docker();
    command.args([
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
    ]);
    command.args(ids.split_whitespace());
    Ok(run(&mut command)?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// Whether the Docker engine answers, and the image exists.
pub fn check_image(image: &str) -> Outcome<()> {
    run(docker().args(["version", "--format", "{{.Server.Version}}"]))
        .map_err(|error| format!("the Docker engine does not answer: {error}"))?;
    run(docker().args(["image", "inspect", "--format", "{{.Id}}", image]))
        .map(drop)
        .map_err(|_| format!("there is no image {image}; build it with `make image`"))
}
