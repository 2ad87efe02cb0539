"""The HTML report: Plotly charts and tables of a plan and its leverage analysis, one file."""

from chipfolio.interfaces.report.page import ReportInput, render_report
from chipfolio.interfaces.report.simulation import SimulationSummary, load_simulation

__all__ = ["ReportInput", "SimulationSummary", "load_simulation", "render_report"]
