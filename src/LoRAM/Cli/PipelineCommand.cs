using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LoRAM.Pipeline;

namespace LoRAM.Cli;

/// <summary><c>loram pipeline</c>: the main job — the paper's comparison on the embedded default, with a report and figures.</summary>
internal static class PipelineCommand
{
    public static Command Create()
    {
        var d = new PipelineOptions { Models = "", Out = "" };
        var models = new Option<string?>("--models") { Description = "Folder with base/ and sibling/ (default: the shipped models/ of this repository)." };
        var outDir = new Option<string>("--out") { Description = "Output folder (reports, adapters; a rerun resumes).", DefaultValueFactory = _ => Path.Combine("runs", "pipeline") };
        var variants = new Option<string?>("--variants") { Description = $"Comma-separated rows (default {string.Join(",", Variant.Defaults)}); see --all." };
        var all = new Option<bool>("--all") { Description = "Every row of the paper's table (Rand/Stru/Semi/Unst with and without alignment, QLoRAM-Stru) and the ratio sweep." };
        var sweep = new Option<bool>("--sweep") { Description = "Also LoRAM-Stru at ratios 0.25/0.5/0.75, with and without recovery (Figs. 6–7)." };
        var sweepRatios = new Option<string?>("--sweep-ratios")
        {
            Description = $"The ratios of the LoRAM-Stru sweep, comma-separated (default {string.Join(",", d.SweepRatios.Select(r => r.ToString(CultureInfo.InvariantCulture)))}); implies --sweep.",
        };
        var ratio = new Option<double>("--ratio") { Description = "Pruning ratio of the LoRAM rows.", DefaultValueFactory = _ => d.Ratio };
        var steps = new Option<int>("--steps") { Description = "LoRA training steps of every trained row.", DefaultValueFactory = _ => d.Steps };
        var evalItems = new Option<int>("--eval-items") { Description = "Items of each perplexity and multiple-choice set.", DefaultValueFactory = _ => d.EvalItems };
        var mathItems = new Option<int>("--math-items") { Description = "Math problems (greedy decoding).", DefaultValueFactory = _ => d.MathItems };
        var knowledgeItems = new Option<int>("--knowledge-items") { Description = "Held-out knowledge questions (multiple choice and exact-match answers).", DefaultValueFactory = _ => d.KnowledgeItems };
        var alignSteps = new Option<string?>("--align-steps")
        {
            Description = string.Create(CultureInfo.InvariantCulture, $"Also LoRAM-Stru aligned for each of these step counts, e.g. 0,20,40,80 (0 = unaligned; " +
                $"{PipelineRunner.AlignTokensPerStep:N0} tokens a step), with and without recovery: the paper's Fig. 5 ({PipelineFigures.AlignmentStepsFigure})."),
        };
        var skip = new Option<long>("--corpus-skip-chars")
        {
            Description = "The corpus (calibration, alignment) starts after the first N characters of the generated stream; default: what the shipped models were pre-trained on, so alignment reads unseen text (0: from the start).",
            DefaultValueFactory = _ => d.CorpusSkipChars,
        };
        var seeds = new Option<int>("--seeds")
        {
            Description = "Fine-tuning seeds per trained row (LoRA init and data order; data and pruning keep one seed); scores become mean ± std.",
            DefaultValueFactory = _ => d.Seeds,
        };
        var lr = new Option<double?>("--lr") { Description = $"LoRA learning rate of every fine-tuned row (default {LearningRateChoice.Format(d.LearningRate)}, or a row's documented default)." };
        var sweepLr = new Option<string?>("--sweep-lr")
        {
            Description = $"Choose each fine-tuned row's learning rate by validation perplexity from these comma-separated rates (default {string.Join(",", PipelineOptions.DefaultLrGrid.Select(LearningRateChoice.Format))}).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var validationItems = new Option<int>("--validation-items")
        {
            Description = "Instructions generated beyond the training ones as the validation split (read only by --sweep-lr).",
            DefaultValueFactory = _ => d.ValidationItems,
        };
        var targets = new Option<string>("--targets")
        {
            Description = "Comma-separated LoRA modules of every fine-tuned row: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj[,lm_head] (default: all, as the paper's LLaMA-2 rows).",
            DefaultValueFactory = _ => string.Join(',', d.Targets),
        };
        var device = CommonOptions.Device();
        var command = new Command("pipeline", "Run the LoRAM comparison end to end and write report.md, report.json and figures.")
        {
            models, outDir, variants, all, sweep, sweepRatios, alignSteps, ratio, steps, evalItems, mathItems, knowledgeItems, skip, seeds, lr, sweepLr, validationItems, targets, device,
        };
        command.SetAction(parse =>
        {
            var chosen = parse.GetValue(all) ? Variant.Catalogue(d.Ratio).Select(v => v.Name).ToList()
                : parse.GetValue(variants)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList() ?? [.. Variant.Defaults];
            var o = new PipelineOptions
            {
                Models = parse.GetValue(models) ?? FindShippedModels(),
                Out = parse.GetValue(outDir)!, Variants = chosen,
                Sweep = parse.GetValue(all) || parse.GetValue(sweep) || parse.GetValue(sweepRatios) is not null,
                SweepRatios = parse.GetValue(sweepRatios) is string list ? Ratios(list) : d.SweepRatios,
                Ratio = parse.GetValue(ratio), Steps = parse.GetValue(steps), EvalItems = parse.GetValue(evalItems), MathItems = parse.GetValue(mathItems),
                KnowledgeItems = parse.GetValue(knowledgeItems),
                CorpusSkipChars = parse.GetValue(skip), AlignStepsSweep = ParseSteps(parse.GetValue(alignSteps)),
                Seeds = parse.GetValue(seeds), ValidationItems = parse.GetValue(validationItems),
                Targets = parse.GetValue(targets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                SweepLr = parse.GetResult(sweepLr) is null ? [] : parse.GetValue(sweepLr) is string grid ? Rates(grid) : PipelineOptions.DefaultLrGrid,
            };
            // A rate given on the command line is every row's: it replaces the table of documented row defaults.
            if (parse.GetValue(lr) is double rate) o = o with { LearningRate = rate, RowLearningRates = new Dictionary<string, double>() };
            var error = parse.InvocationConfiguration.Error;
            var clock = Stopwatch.StartNew();
            using var backend = CommonOptions.OpenBackend(parse.GetValue(device));
            var (rows, sweepRows, alignSweep) = ConsoleProgress.Run(error, progress =>
            {
                var runner = new PipelineRunner(o, backend, progress);
                var (r, s) = runner.Run();
                return (r, s, runner.AlignSweep);
            }, hideCompleted: true);
            var files = PipelineReport.Write(o.Out, o, rows, sweepRows, backend.Name, clock.Elapsed.TotalSeconds, PipelineFigures.Draw, alignSweep);
            var output = parse.InvocationConfiguration.Output;
            output.Write(PipelineReport.Table(rows));
            output.WriteLine($"wrote {string.Join(", ", files.Select(f => Path.Combine(o.Out, f)))} in {clock.Elapsed.TotalMinutes:F1} min");
            return 0;
        });
        return command;
    }

    /// <summary>"0,20,40,80" → [0, 20, 40, 80]; nothing → none.</summary>
    private static IReadOnlyList<int> ParseSteps(string? list) =>
        list?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x =>
            int.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n
                : throw new UserInputException($"--align-steps must be step counts separated by commas, e.g. 0,20,40,80; got '{x}'")).ToList() ?? [];

    /// <summary>The ratios of <c>--sweep-ratios</c>: comma-separated numbers (range checked by the options' Validate).</summary>
    private static List<double> Ratios(string list)
    {
        var ratios = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(text =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
            : throw new UserInputException($"--sweep-ratios: '{text}' is not a number (expected comma-separated ratios such as 0.1,0.25)")).ToList();
        return ratios.Count > 0 ? ratios : throw new UserInputException("--sweep-ratios: no ratios given");
    }

    /// <summary>The rates of <c>--sweep-lr</c>: comma-separated numbers (range checked by the options' Validate).</summary>
    private static List<double> Rates(string grid)
    {
        var rates = grid.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(text =>
            double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) ? v
            : throw new UserInputException($"--sweep-lr: '{text}' is not a number (expected comma-separated rates such as 1e-4,1e-3)")).ToList();
        return rates.Count > 0 ? rates : throw new UserInputException("--sweep-lr: no rates given (omit the value for the default grid)");
    }

    /// <summary>The repository's models/ folder, found from the working directory or the tool's own location.</summary>
    internal static string FindShippedModels()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "models", "base", "config.json"))) return Path.Combine(dir.FullName, "models");
        throw new UserInputException("no shipped models/ folder found above the working directory; pass --models DIR (holding base/ and sibling/)");
    }
}
