use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = riskgate::cli::parse();
    riskgate::telemetry::init();
    match riskgate::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!(
                "riskgate: {}",
                riskgate::report::printable(&riskgate::cli::one_line(&err))
            );
            ExitCode::from(2)
        }
    }
}
