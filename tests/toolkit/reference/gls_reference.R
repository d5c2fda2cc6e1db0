# nlme's gls (marginal models with correlated errors within groups) for tests/toolkit/test_gls.py.
#
# Usage (from the repository root, after export_data.py has written the small data sets):
#   Rscript tests/toolkit/reference/gls_reference.R   # -> gls_reference.csv
#
# Orthodont (distance ~ age + Sex) with independent, compound-symmetric, AR(1) and CAR(1) errors
# within Subject, and the Blackmore model's fixed part with CAR(1) errors in age within subject;
# with a residual variance for each stratum (weights = varIdent(form = ~ 1 | stratum)): Orthodont
# with a variance by Sex (orthodont_varident), and also AR(1) errors (orthodont_ar1_varident), and
# the Blackmore model's fixed part with CAR(1) errors and a variance by group (blackmore_car1_varident);
# each by REML and ML.  nlme fixes the variance of the first stratum in the data's order (sorted by
# group when there is a correlation) at 1: the row "reference" names it, the rows "delta" give the
# ratio of each other stratum's residual SD to it.  Output, long form: model, method, kind, name, value.
suppressPackageStartupMessages(library(nlme))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

models <- list(
  list(name = "orthodont_independent", data = orthodont_by_age, formula = distance ~ age + Sex, correlation = NULL),
  list(name = "orthodont_cs", data = orthodont_by_age, formula = distance ~ age + Sex,
       correlation = corCompSymm(form = ~ 1 | Subject)),
  list(name = "orthodont_ar1", data = orthodont_by_age, formula = distance ~ age + Sex, correlation = corAR1(form = ~ 1 | Subject)),
  list(name = "orthodont_car1", data = orthodont_by_age, formula = distance ~ age + Sex,
       correlation = corCAR1(form = ~ age | Subject)),
  list(name = "blackmore_car1", data = blackmore, formula = log_exercise ~ time * group,
       correlation = corCAR1(form = ~ age | subject)),
  list(name = "orthodont_varident", data = orthodont_by_age, formula = distance ~ age + Sex, correlation = NULL,
       weights = varIdent(form = ~ 1 | Sex)),
  list(name = "orthodont_ar1_varident", data = orthodont_by_age, formula = distance ~ age + Sex,
       correlation = corAR1(form = ~ 1 | Subject), weights = varIdent(form = ~ 1 | Sex)),
  list(name = "blackmore_car1_varident", data = blackmore, formula = log_exercise ~ time * group,
       correlation = corCAR1(form = ~ age | subject), weights = varIdent(form = ~ 1 | group))
)
for (m in models) {
  for (method in c("REML", "ML")) {
    fit <- gls(m$formula, data = m$data, correlation = m$correlation, weights = m$weights, method = method)
    add(m$name, method, "fit", "loglik", logLik(fit)[1])
    add(m$name, method, "fit", "sigma", fit$sigma)
    beta <- coef(fit)
    se <- sqrt(diag(vcov(fit)))
    for (k in seq_along(beta)) {
      add(m$name, method, "coef", names(beta)[k], beta[k])
      add(m$name, method, "se", names(beta)[k], se[k])
    }
    if (!is.null(m$correlation)) add(m$name, method, "phi", "phi", coef(fit$modelStruct$corStruct, unconstrained = FALSE))
    if (!is.null(m$weights)) add_deltas(m$name, method, fit$modelStruct$varStruct)
  }
}
write_long("gls_reference.R")
