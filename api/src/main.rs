fn main() -> std::process::ExitCode {
    logplane_api::cli::main()
}
