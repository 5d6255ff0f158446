namespace LoRAM.Tests;

/// <summary>The layers point one way: the command line uses the method, never the reverse. The compiler enforces it
/// (the CLI is its own project); these tests keep anyone from adding the way back.</summary>
public sealed class LayeringTests
{
    private static readonly string[] CommandLinePackages = ["System.CommandLine", "Spectre.Console", "ScottPlot", "SkiaSharp"];

    [Fact]
    public void The_method_library_references_no_command_line_assembly()
    {
        var library = typeof(ModelLoader).Assembly;
        Assert.Equal("LoRAM.Method", library.GetName().Name);
        var referenced = library.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Contains("LoRAM.Llama", referenced);   // the check sees references at all
        Assert.DoesNotContain("loram", referenced);   // the command's own assembly
        foreach (var name in referenced)
            Assert.DoesNotContain(CommandLinePackages, p => name == p || name.StartsWith(p + ".", StringComparison.Ordinal));
    }

    [Fact]
    public void The_method_library_has_no_command_line_namespace()
    {
        var types = typeof(ModelLoader).Assembly.GetTypes();
        Assert.Contains(types, t => t.Namespace == "LoRAM.Pruning");
        Assert.DoesNotContain(types, t => t.Namespace is { } ns && (ns == "LoRAM.Cli" || ns.StartsWith("LoRAM.Cli.", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_library_project_file_names_no_command_line_package()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "LoRAM.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var project = File.ReadAllText(Path.Combine(dir.FullName, "src", "LoRAM", "LoRAM.csproj"));
        Assert.Contains("<Compile Remove=\"Cli/**\" />", project);
        foreach (var p in CommandLinePackages.Append("loram")) Assert.DoesNotContain($"Include=\"{p}\"", project);
    }
}
