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
    "__version__",
]
