// Benchmarks: `dotnet run -c Release --project bench -- <suite> [--json]`. Each suite lives in its own file.
using LoRAM.Bench;

return BenchMain.Run(args);
