//! Runs the `cargo run ... kubectl-verdict` commands in `examples/demo/README.md` and checks
//! that the output printed there is what the binary prints now.

use std::path::Path;
use std::process::Command;

const PREFIX: &str = "$ cargo run -q -p verdict-cli --bin kubectl-verdict -- ";

/// A command from the README and the output shown under it (possibly none).
struct Example {
    args: Vec<String>,
    output: String,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut in_block = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(args) = line.strip_prefix(PREFIX) {
            let args = args.split_whitespace().map(String::from).collect();
            examples.push(Example {
                args,
                output: String::new(),
            });
        } else if line.starts_with('$') {
            // A command we do not run; it ends the previous example's output.
            examples.push(Example {
                args: Vec::new(),
                output: String::new(),
            });
        } else if let Some(example) = examples.last_mut() {
            example.output.push_str(line);
            example.output.push('\n');
        }
    }
    examples.retain(|e| !e.args.is_empty());
    examples
}

#[test]
fn demo_readme_commands_print_what_the_readme_shows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("examples/demo/README.md")).unwrap();
    let examples = examples(&readme);
    assert!(
        examples.len() >= 2,
        "expected the README's cargo run commands, found {}",
        examples.len()
    );
    for example in examples {
        let output = Command::new(env!("CARGO_BIN_EXE_kubectl-verdict"))
            .args(&example.args)
            .current_dir(root)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            output.status.success(),
            "{:?}: {}",
            example.args,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!stdout.is_empty(), "{:?} printed nothing", example.args);
        if !example.output.is_empty() {
            pretty_assertions::assert_eq!(stdout, example.output, "{:?}", example.args);
        }
    }
}
