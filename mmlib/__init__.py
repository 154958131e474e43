"""mmlib: the helper library of the executable book on optimal market making.

The numerical modules (model, hjb, population, mean_field, metrics, ...) never
import matplotlib; plotting and widgets live in their own modules. Every public
name is importable from the top level (``from mmlib import ...``), which is how
the chapters import. Functions that return one quantity per side return a
:class:`~mmlib.model.Quotes` ``(bid, ask)``.
"""
from .hjb import HJBSolution, hamiltonian, min_stable_steps, optimal_quotes, solve_hjb
from .mean_field import MeanFieldConvergenceWarning, MeanFieldSolution, solve_mean_field
from .model import TEACHING_PARAMS, ModelParams, Quotes
from .population import (
    default_rho0,
    evolve_population,
    generator_rates,
    min_stable_population_steps,
    simulate_inventory,
)
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
from .metrics import (
    MCStats,
    average_quotes,
    derisk_probability,
    full_spread,
    inventory_mean,
    inventory_variance,
    marginal_cost,
    mc_stats,
    session_metrics,
    skew,
)
from .policies import (
    ASInventoryPolicy,
    ASSymmetricPolicy,
    ConstantPolicy,
    GLFTPolicy,
    HJBPolicy,
)
from .simulation import (
    MarketParams,
    SimulationPaths,
    SimulationResult,
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
from .competition import (
    CompetitionPaths,
    CompetitionResult,
    FiniteCrowdResult,
    simulate_competition,
    simulate_finite_crowd,
)
from . import metrics
# Plot helpers and widgets: neither module imports matplotlib or ipywidgets at
# import time (they do so inside the functions that draw), so these stay cheap.
from .plotting import (
    BOOK_STYLE,
    plot_edge_rate,
    plot_fill_fit,
    plot_heatmap,
    plot_loglog,
    plot_ridge,
    plot_series,
    plot_slices,
)
from .widgets import DASHBOARD_DEFAULTS, SLIDER_RANGES, Dashboard, make_sliders, slider_panel

__version__ = "0.1.0"

__all__ = [
    "ModelParams",
    "TEACHING_PARAMS",
    "Quotes",
    "default_rho0",
    "HJBSolution",
    "solve_hjb",
    "optimal_quotes",
    "hamiltonian",
    "min_stable_steps",
    "evolve_population",
    "simulate_inventory",
    "generator_rates",
    "min_stable_population_steps",
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
    "average_quotes",
    "derisk_probability",
    "full_spread",
    "inventory_mean",
    "inventory_variance",
    "marginal_cost",
    "session_metrics",
    "skew",
    "BOOK_STYLE",
    "plot_edge_rate",
    "plot_fill_fit",
    "plot_heatmap",
    "plot_loglog",
    "plot_ridge",
    "plot_series",
    "plot_slices",
    "DASHBOARD_DEFAULTS",
    "SLIDER_RANGES",
    "Dashboard",
    "make_sliders",
    "slider_panel",
    "CompetitionPaths",
    "CompetitionResult",
    "FiniteCrowdResult",
    "simulate_competition",
    "simulate_finite_crowd",
    "__version__",
]
