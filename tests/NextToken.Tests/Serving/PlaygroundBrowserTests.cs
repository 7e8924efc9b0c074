// PlaygroundBrowserTests: the playground in real headless Chromium (Selenium): type a message, watch the answer stream.
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace NextToken.Tests.Serving;

/// <summary>Skips with a message when Debian's chromium / chromium-driver are not installed (.ci/run installs them).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Driver = "/usr/bin/chromedriver";
    public const string Browser = "/usr/bin/chromium";
    public ChromiumFactAttribute()
    {
        if (!File.Exists(Driver) || !File.Exists(Browser))
            Skip = $"headless browser test skipped: {Browser} and {Driver} not found (apt-get install chromium chromium-driver; .ci/run does this)";
    }
}

public sealed class PlaygroundBrowserTests
{
    static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "NextToken.slnx"))) return d.FullName;
        throw new DirectoryNotFoundException("NextToken.slnx not found above " + AppContext.BaseDirectory);
    }

    [ChromiumFact]
    public async Task TypeAMessage_SeeTheAnswerStream_AndTheTokenLogprobs()
    {
        // 60 ms per step: the answer visibly grows while it streams (3.6 s for 60 tokens, polled every 100 ms, so a loaded
        // machine still sees it part-way).
        await using var server = await TinyServing.StartAsync(new NextToken.Server.ServeOptions { ApiKey = "" }, m => new SlowLm(m, 60));
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromiumFactAttribute.Driver)!, Path.GetFileName(ChromiumFactAttribute.Driver));
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = ChromiumFactAttribute.Browser };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,700");
        using var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(30));
        driver.Navigate().GoToUrl(server.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(60)) { PollingInterval = TimeSpan.FromMilliseconds(100) };
        wait.Until(d => d.FindElement(By.Id("model")).Text == TinyServing.Name);
        driver.FindElement(By.Id("max_tokens")).Clear();
        driver.FindElement(By.Id("max_tokens")).SendKeys("60");
        driver.FindElement(By.Id("input")).SendKeys("Hello, model!");
        driver.FindElement(By.Id("send")).Click();
        var answer = wait.Until(d => d.FindElements(By.CssSelector(".msg.assistant")).FirstOrDefault());
        // Streamed: some text shows before the answer is complete.
        string partial = wait.Until(d => answer.Text.Length > 0 && answer.GetAttribute("data-done") is null ? answer.Text : null)!;
        wait.Until(d => answer.GetAttribute("data-done") == "1");
        Assert.True(answer.Text.Length > partial.Length, $"the answer did not grow while streaming ('{partial}' then '{answer.Text}')");
        var tokens = answer.FindElements(By.CssSelector(".tok"));
        Assert.Equal(60, tokens.Count);
        tokens[0].Click();
        Assert.Contains("alternatives", driver.FindElement(By.Id("alts")).Text);
        Assert.Equal("Hello, model!", driver.FindElement(By.CssSelector(".msg.user")).Text);
        // The screenshot in docs is written when absent or when NEXTTOKEN_UPDATE_SCREENSHOT=1 (so test runs leave the
        // checkout clean); every run also leaves one beside the test assembly.
        var shot = driver.GetScreenshot();
        shot.SaveAsFile(Path.Combine(AppContext.BaseDirectory, "serving-playground.png"));
        string docs = Path.Combine(RepoRoot(), "docs", "serving-playground.png");
        if (!File.Exists(docs) || Environment.GetEnvironmentVariable("NEXTTOKEN_UPDATE_SCREENSHOT") == "1") shot.SaveAsFile(docs);
    }
}
