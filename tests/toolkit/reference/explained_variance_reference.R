# Snijders & Bosker's explained variance at levels 1 and 2 and Raudenbush & Bryk's
# proportional reduction in each variance component, computed from lme4's VarCorr() of
# models fitted to HSB, for tests/toolkit/test_explained_variance.py.
#
# Usage (from the repository root):
#   Rscript tests/toolkit/reference/explained_variance_reference.R   # -> explained_variance_reference.csv
#
# Every model is fitted by REML and by ML (bobyqa).  R^2 compares a random-intercept model
# with the empty model fitted by the same method; the level-2 R^2 uses the harmonic mean
# of the school sizes.  The reductions compare the random-intercept models with the empty
# model, and the random-slope model with school predictors with the random-slope model
# without them (the same random part).  Long form: model, method, quantity, value.
suppressPackageStartupMessages(library(lme4))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

intercept_models <- list(
  empty = mathach ~ 1 + (1 | school),
  ses = mathach ~ ses + (1 | school),
  cses = mathach ~ cses + (1 | school),
  meanses = mathach ~ meanses + (1 | school),
  full = mathach ~ cses + meanses + sector + (1 | school)
)
slope_models <- list(
  slope_base = mathach ~ cses + (1 + cses | school),
  slope_full = mathach ~ cses + meanses + sector + meanses:cses + sector:cses + (1 + cses | school)
)
sizes <- table(hsb$school)
n_harmonic <- length(sizes) / sum(1 / sizes)

# variances by name: "Intercept", slope names, and "residual" (covariances left out)
variances <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  vc <- vc[is.na(vc$var2), ]
  names <- ifelse(vc$grp == "Residual", "residual", sub("(Intercept)", "Intercept", vc$var1, fixed = TRUE))
  setNames(vc$vcov, names)
}
num <- function(x) trimws(formatC(x, digits = 17, format = "g"))
rows <- list()
add <- function(model, method, quantity, value) {
  rows[[length(rows) + 1]] <<- data.frame(model = model, method = method, quantity = quantity, value = num(value))
}
add("hsb", "", "n_harmonic", n_harmonic)
for (method in c("REML", "ML")) {
  fit <- function(formula) lmer(formula, data = hsb, REML = method == "REML",
                                control = lmerControl(optimizer = "bobyqa"))
  v <- lapply(intercept_models, function(f) variances(fit(f)))
  v0 <- v$empty
  for (name in names(intercept_models)) {
    vf <- v[[name]]
    for (component in names(vf)) add(name, method, paste0("var:", component), vf[[component]])
    if (name == "empty") next
    for (level in 1:2) {
      n <- if (level == 1) 1 else n_harmonic
      r2 <- 1 - (vf[["residual"]] / n + vf[["Intercept"]]) / (v0[["residual"]] / n + v0[["Intercept"]])
      add(name, method, paste0("R2:level ", level), r2)
    }
    for (component in names(vf)) add(name, method, paste0("reduction:", component),
                                     (v0[[component]] - vf[[component]]) / v0[[component]])
  }
  s <- lapply(slope_models, function(f) variances(fit(f)))
  for (name in names(slope_models)) {
    for (component in names(s[[name]])) add(name, method, paste0("var:", component), s[[name]][[component]])
  }
  for (component in names(s$slope_full)) {
    add("slope_full", method, paste0("reduction:", component),
        (s$slope_base[[component]] - s$slope_full[[component]]) / s$slope_base[[component]])
  }
}
rows <- do.call(rbind, rows)

out <- file.path(here, "explained_variance_reference.csv")
writeLines(sprintf("# written by tests/toolkit/reference/explained_variance_reference.R with %s, lme4 %s on %s",
                   R.version.string, packageVersion("lme4"), Sys.Date()), out)
suppressWarnings(write.table(rows, out, sep = ",", row.names = FALSE, append = TRUE, qmethod = "double"))
cat("wrote", nrow(rows), "rows to", out, "\n")
