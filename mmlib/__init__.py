"""mmlib: the helper library of the executable book on optimal market making.

The numerical modules (model, hjb, population, mean_field, metrics, ...) never
import matplotlib; plotting and widgets live in their own modules.
"""
from .hjb import HJBSolution, hamiltonian, optimal_quotes, solve_hjb
from .mean_field import MeanFieldConvergenceWarning, MeanFieldSolution, solve_mean_field
from .model import ModelParams
from .population import evolve_population, generator_rates, simulate_inventory
from .avellaneda_stoikov import (
    ASParams,
    GLFTSolution,
    article_params,
    as_depths,
    as_quotes,
    compare_quotes,
    glft_asymptotic_depths,
    glft_coefficients,
    optimal_spread,
    reservation_price,
    solve_glft,
)
from .simulation import (
    ASInventoryPolicy,
    ASSymmetricPolicy,
    ConstantPolicy,
    GLFTPolicy,
    HJBPolicy,
    MarketParams,
    MCStats,
    SimulationPaths,
    SimulationResult,
    mc_stats,
    simulate,
)
from .intensity import (
    IntensityFit,
    edge_rate,
    fill_probability,
    fit_intensity,
    intensity,
    k_from_flow_ratio,
    microfoundation,
    poisson_loglik,
    simulate_fill_counts,
    simulate_impact_counts,
)
from .quotes import (
    brute_force_quotes,
    long_horizon_approximation,
    long_horizon_quotes,
    side_objective,
    urgency_threshold,
)
from .sweep import SweepError, sweep
from .fill_curves import (
    CurveQuotes,
    ExponentialCurve,
    FillCurve,
    PowerLawCurve,
    TableCurve,
    TablePolicy,
    solve_cara_quotes,
)
from .diagnostics import boundary_mass, boundary_mass_mc, choose_x_max
from .competition import (
    CompetitionPaths,
    CompetitionResult,
    FiniteCrowdResult,
    simulate_competition,
    simulate_finite_crowd,
)
from . import metrics

__version__ = "0.1.0"

__all__ = [
    "ModelParams",
    "HJBSolution",
    "solve_hjb",
    "optimal_quotes",
    "hamiltonian",
    "evolve_population",
    "simulate_inventory",
    "generator_rates",
    "MeanFieldSolution",
    "MeanFieldConvergenceWarning",
    "solve_mean_field",
    "metrics",
    "IntensityFit",
    "edge_rate",
    "fill_probability",
    "fit_intensity",
    "intensity",
    "k_from_flow_ratio",
    "microfoundation",
    "poisson_loglik",
    "simulate_fill_counts",
    "simulate_impact_counts",
    "brute_force_quotes",
    "long_horizon_approximation",
    "long_horizon_quotes",
    "side_objective",
    "urgency_threshold",
    "ASParams",
    "GLFTSolution",
    "article_params",
    "as_depths",
    "as_quotes",
    "compare_quotes",
    "glft_asymptotic_depths",
    "glft_coefficients",
    "optimal_spread",
    "reservation_price",
    "solve_glft",
    "ASInventoryPolicy",
    "ASSymmetricPolicy",
    "ConstantPolicy",
    "GLFTPolicy",
    "HJBPolicy",
    "MarketParams",
    "MCStats",
    "SimulationPaths",
    "SimulationResult",
    "mc_stats",
    "simulate",
    "sweep",
    "SweepError",
    "FillCurve",
    "ExponentialCurve",
    "PowerLawCurve",
    "TableCurve",
    "CurveQuotes",
    "solve_cara_quotes",
    "TablePolicy",
    "boundary_mass",
    "boundary_mass_mc",
    "choose_x_max",
    "CompetitionPaths",
    "CompetitionResult",
    "FiniteCrowdResult",
    "simulate_competition",
    "simulate_finite_crowd",
    "__version__",
]
