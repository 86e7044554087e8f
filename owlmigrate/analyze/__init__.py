"""What jobs call (shell commands, Python and shell scripts) and the risks of migrating them."""

from owlmigrate.analyze.python import PythonAnalysis, analyze_python
from owlmigrate.analyze.risks import JobContext, job_risks
from owlmigrate.analyze.scripts import analyze_script_file, language_of, shell_script_details
from owlmigrate.analyze.shell import ShellAnalysis, SimpleCommand, analyze_command

__all__ = [
    "JobContext",
    "PythonAnalysis",
    "ShellAnalysis",
    "SimpleCommand",
    "analyze_command",
    "analyze_python",
    "analyze_script_file",
    "job_risks",
    "language_of",
    "shell_script_details",
]
