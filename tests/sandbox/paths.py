"""Where the sandbox tests find the example repository and the demo data."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "churn"
SAMPLE = ROOT / "sample_data" / "labeled" / "customers.csv"
