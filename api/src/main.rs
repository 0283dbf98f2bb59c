// mimalloc returns memory freed after a burst (thousands of agents fetching a new bundle at
// once) to the system, where glibc's allocator kept the high-water mark resident: measured with
// `logplane-sim agents`, see docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    logplane_api::cli::main()
}
